import Foundation

/// Times in the store are written in Astana time (UTC+5, no daylight saving) as
/// ISO 8601 with an explicit "+05:00" offset, as [LEX 28] requires for the event log;
/// the offset keeps them unambiguous for anyone reading them elsewhere.
public enum AstanaTime {
    public static let zone = TimeZone(secondsFromGMT: 5 * 3600)!

    public static func format(_ date: Date) -> String {
        // A formatter per call: ISO8601DateFormatter is not Sendable, and this is not hot.
        let f = ISO8601DateFormatter()
        f.timeZone = zone
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    public static func now() -> String { format(Date()) }

    public static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }
}
