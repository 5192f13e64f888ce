import Foundation

/// Python's `datetime.strftime` in the C locale, for `strftime_now`.
enum Strftime {
    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = ["January", "February", "March", "April", "May", "June", "July", "August",
                                 "September", "October", "November", "December"]

    static func format(_ format: String, date: Date, timeZone: TimeZone) throws -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond, .weekday], from: date)
        guard let year = parts.year, let month = parts.month, let day = parts.day, let hour = parts.hour,
              let minute = parts.minute, let second = parts.second, let weekday = parts.weekday
        else { throw EvalFailure("strftime_now: the date cannot be expressed in the Gregorian calendar") }
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let hour12 = hour % 12 == 0 ? 12 : hour % 12

        var output = ""
        var scalars = format.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "%" else {
                output.unicodeScalars.append(scalar)
                continue
            }
            guard var directive = scalars.next() else {
                throw EvalFailure("strftime_now: format ends with a lone '%'")
            }
            // glibc's `%-d` drops zero padding; Python on Linux passes it through.
            let unpadded = directive == "-"
            if unpadded {
                guard let next = scalars.next() else { throw EvalFailure("strftime_now: format ends with '%-'") }
                directive = next
            }
            func number(_ value: Int, width: Int) -> String {
                let digits = String(value)
                return unpadded ? digits : String(repeating: "0", count: max(0, width - digits.count)) + digits
            }
            switch directive {
            case "a": output += String(weekdays[weekday - 1].prefix(3))
            case "A": output += weekdays[weekday - 1]
            case "b", "h": output += String(months[month - 1].prefix(3))
            case "B": output += months[month - 1]
            case "d": output += number(day, width: 2)
            case "e": output += unpadded ? String(day) : (day < 10 ? " " : "") + String(day)
            case "m": output += number(month, width: 2)
            case "y": output += number(year % 100, width: 2)
            case "Y": output += String(year)
            case "H": output += number(hour, width: 2)
            case "I": output += number(hour12, width: 2)
            case "M": output += number(minute, width: 2)
            case "S": output += number(second, width: 2)
            case "f": output += number((parts.nanosecond ?? 0) / 1000, width: 6)
            case "p": output += hour < 12 ? "AM" : "PM"
            case "j": output += number(dayOfYear, width: 3)
            case "w": output += String(weekday - 1)
            case "u": output += String(weekday == 1 ? 7 : weekday - 1)
            case "F": output += "\(year)-\(number(month, width: 2))-\(number(day, width: 2))"
            case "T": output += "\(number(hour, width: 2)):\(number(minute, width: 2)):\(number(second, width: 2))"
            case "%": output += "%"
            default:
                throw EvalFailure("strftime_now: unsupported directive '%\(directive)'")
            }
        }
        return output
    }
}
