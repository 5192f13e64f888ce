extension Sequence<Unicode.Scalar> {
    /// The UTF-8 encoding of these scalars.
    var utf8Bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(underestimatedCount)
        for scalar in self { bytes.append(contentsOf: scalar.utf8) }
        return bytes
    }

    /// These scalars as a `String`, unchanged (no normalisation).
    var string: String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: self)
        return String(view)
    }
}
