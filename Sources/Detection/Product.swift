/// The product as alerts name it (OCSF `metadata.product`, ECS `observer`/`rule.ruleset`) and as
/// `tokentrail --version` prints it: one definition.
public enum Product {
    public static let name = "tokentrail"
    public static let vendorName = "tokentrail"
    public static let version = "0.1.0"
}
