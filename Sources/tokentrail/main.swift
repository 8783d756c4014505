print("tokentrail")
