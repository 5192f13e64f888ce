import Foundation

/// The moment `strftime_now` reports, and the time zone it is shown in.
public struct Clock: Sendable {
    public var now: Date
    public var timeZone: TimeZone

    public init(now: Date, timeZone: TimeZone) {
        self.now = now
        self.timeZone = timeZone
    }

    /// The current time in the process's time zone, as Python's `datetime.now()` uses.
    public static var system: Clock { Clock(now: Date(), timeZone: .current) }
}
