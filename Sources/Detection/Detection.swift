/// Rule, windows, watermarks and alert building. Pure: no I/O; the clock is passed in.
public enum DetectionModule {}
