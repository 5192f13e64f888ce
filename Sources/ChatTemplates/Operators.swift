import Foundation

/// Python arithmetic, comparison and slicing. Integer overflow is an error rather than a bignum.
enum Operators {
    static func binary(_ op: BinaryOperator, _ left: Value, _ right: Value) throws -> Value {
        if op == .concat { return .string(left.pythonString + right.pythonString) }
        if left.isUndefined || right.isUndefined { throw EvalFailure(undefinedMessage(left, right)) }
        switch (op, left, right) {
        case let (.add, .string(a), .string(b)): return .string(a + b)
        case let (.add, .array(a), .array(b)): return .array(a + b)
        case let (.multiply, .string(text), count) where count.integer != nil,
             let (.multiply, count, .string(text)) where count.integer != nil:
            return .string(String(repeating: text, count: try repeatCount(count, unit: text.unicodeScalars.count)))
        case let (.multiply, .array(items), count) where count.integer != nil,
             let (.multiply, count, .array(items)) where count.integer != nil:
            let times = try repeatCount(count, unit: items.count)
            return .array(Array([[Value]](repeating: items, count: times).joined()))
        case (.modulo, .string, _):
            throw EvalFailure("printf-style string formatting with '%' is not supported")
        default:
            break
        }
        if let a = left.integer, let b = right.integer { return try integerArithmetic(op, a, b) }
        guard let a = left.number, let b = right.number else {
            throw EvalFailure("unsupported operand type(s) for \(op.rawValue): '\(left.typeName)' and '\(right.typeName)'")
        }
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw EvalFailure("float division by zero") }
            return .double(a / b)
        case .floorDivide:
            guard b != 0 else { throw EvalFailure("float floor division by zero") }
            return .double((a / b).rounded(.down))
        case .modulo:
            guard b != 0 else { throw EvalFailure("float modulo") }
            let remainder = fmod(a, b)
            return .double(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
        case .power:
            return .double(pow(a, b))
        case .concat:
            return .string(left.pythonString + right.pythonString)
        }
    }

    /// Guards `"ab" * n` and `[x] * n` against absurd allocations.
    private static func repeatCount(_ count: Value, unit: Int) throws -> Int {
        let times = max(0, count.integer ?? 0)
        guard unit == 0 || times <= 10_000_000 / unit else { throw EvalFailure("repetition result too large") }
        return times
    }

    private static func integerArithmetic(_ op: BinaryOperator, _ a: Int, _ b: Int) throws -> Value {
        func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
            guard !result.overflow else { throw EvalFailure("integer overflow") }
            return .int(result.partialValue)
        }
        switch op {
        case .add: return try checked(a.addingReportingOverflow(b))
        case .subtract: return try checked(a.subtractingReportingOverflow(b))
        case .multiply: return try checked(a.multipliedReportingOverflow(by: b))
        case .divide:
            guard b != 0 else { throw EvalFailure("division by zero") }
            return .double(Double(a) / Double(b))
        case .floorDivide, .modulo:
            guard b != 0 else { throw EvalFailure("integer division or modulo by zero") }
            guard !(a == .min && b == -1) else { throw EvalFailure("integer overflow") }
            // Python rounds the quotient toward negative infinity, so the remainder takes the divisor's sign.
            var quotient = a / b
            var remainder = a % b
            if remainder != 0, (remainder < 0) != (b < 0) {
                quotient -= 1
                remainder += b
            }
            return .int(op == .floorDivide ? quotient : remainder)
        case .power:
            if b < 0 { return .double(pow(Double(a), Double(b))) }
            var result = 1
            var base = a
            var exponent = b
            while exponent > 0 {
                if exponent & 1 == 1 {
                    let product = result.multipliedReportingOverflow(by: base)
                    guard !product.overflow else { throw EvalFailure("integer overflow") }
                    result = product.partialValue
                }
                exponent >>= 1
                if exponent > 0 {
                    let square = base.multipliedReportingOverflow(by: base)
                    guard !square.overflow else { throw EvalFailure("integer overflow") }
                    base = square.partialValue
                }
            }
            return .int(result)
        case .concat:
            return .string(String(a) + String(b))
        }
    }

    static func negate(_ value: Value) throws -> Value {
        if let number = value.integer {
            guard number != .min else { throw EvalFailure("integer overflow") }
            return .int(-number)
        }
        if case let .double(number) = value { return .double(-number) }
        if value.isUndefined { throw EvalFailure(undefinedMessage(value)) }
        throw EvalFailure("bad operand type for unary -: '\(value.typeName)'")
    }

    static func compare(_ op: CompareOperator, _ left: Value, _ right: Value) throws -> Bool {
        switch op {
        case .equal: return left.pythonEquals(right)
        case .notEqual: return !left.pythonEquals(right)
        case .less: return try left.pythonCompare(right, op: "<") < 0
        case .lessEqual: return try left.pythonCompare(right, op: "<=") <= 0
        case .greater: return try left.pythonCompare(right, op: ">") > 0
        case .greaterEqual: return try left.pythonCompare(right, op: ">=") >= 0
        case .in: return try right.contains(left)
        case .notIn: return !(try right.contains(left))
        }
    }

    /// Python slicing `value[start:stop:step]` for lists and strings.
    static func slice(_ value: Value, start: Value?, stop: Value?, step: Value?) throws -> Value {
        func bound(_ value: Value?) throws -> Int? {
            guard let value, !(value.isUndefined), !(value.pythonEquals(.none)) else { return nil }
            guard let number = value.integer else { throw EvalFailure("slice indices must be integers or None") }
            return number
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw EvalFailure("slice step cannot be zero") }
        func indices(count: Int) throws -> [Int] {
            func adjust(_ index: Int?, defaultValue: Int) -> Int {
                guard let index else { return defaultValue }
                if index < 0 { return max(index + count, stepValue < 0 ? -1 : 0) }
                return min(index, stepValue < 0 ? count - 1 : count)
            }
            let from = adjust(try bound(start), defaultValue: stepValue < 0 ? count - 1 : 0)
            let to = adjust(try bound(stop), defaultValue: stepValue < 0 ? -1 : count)
            return Array(stride(from: from, to: to, by: stepValue))
        }
        switch value {
        case let .array(items):
            return .array(try indices(count: items.count).map { items[$0] })
        case let .string(text):
            let scalars = Array(text.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try indices(count: scalars.count).map { scalars[$0] })))
        case .undefined:
            throw EvalFailure(undefinedMessage(value))
        default:
            throw EvalFailure("'\(value.typeName)' object is not subscriptable")
        }
    }
}
