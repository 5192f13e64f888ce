/// Least squares with non-negative coefficients, by active set: solve, drop the most negative
/// coefficient, solve again. Enough for the two- to five-term cost models fitted here.
///
/// Rows are weighted by `1 / target`, so the fit minimises *relative* error: a 2 ms point and a
/// 2 s point count the same, as they do for latency predictions.
///
/// ```swift
/// let c = try NonNegativeLeastSquares.fit(rows: [[1, 10], [1, 20], [1, 40]], targets: [12, 22, 42])  // ≈ [2, 1]
/// ```
enum NonNegativeLeastSquares {
    static func fit(rows: [[Double]], targets: [Double], stage: String) throws(ProfileError) -> [Double] {
        let width = rows.first?.count ?? 0
        // A column that is zero on every point (a term the points never exercise) stays at zero.
        var active = (0 ..< width).filter { c in rows.contains { $0[c] != 0 } }
        guard rows.count >= active.count, !active.isEmpty else { throw .tooFewPoints(stage: stage, points: rows.count, needed: max(active.count, 1)) }
        while !active.isEmpty {
            guard let solution = solve(rows: rows, targets: targets, columns: active) else {
                // Collinear columns (e.g. every point with the same batch size): drop the column whose
                // removal leaves the best-fitting solvable system, so no independent term is lost.
                let candidates = active.indices.compactMap { k -> (index: Int, residual: Double)? in
                    var rest = active
                    rest.remove(at: k)
                    guard let s = solve(rows: rows, targets: targets, columns: rest) else { return nil }
                    return (k, residual(rows: rows, targets: targets, columns: rest, coefficients: s))
                }
                active.remove(at: candidates.min { $0.residual < $1.residual }?.index ?? active.count - 1)
                continue
            }
            guard let worst = solution.indices.min(by: { solution[$0] < solution[$1] }), solution[worst] < 0 else {
                var coefficients = [Double](repeating: 0, count: width)
                for (k, column) in active.enumerated() { coefficients[column] = solution[k] }
                return coefficients
            }
            active.remove(at: worst)
        }
        return [Double](repeating: 0, count: width)
    }

    /// Sum of squared relative errors of `coefficients` on `columns`.
    private static func residual(rows: [[Double]], targets: [Double], columns: [Int], coefficients: [Double]) -> Double {
        zip(rows, targets).reduce(0) { sum, pair in
            let predicted = zip(columns, coefficients).reduce(0) { $0 + pair.0[$1.0] * $1.1 }
            let error = (predicted - pair.1) / max(abs(pair.1), .leastNormalMagnitude)
            return sum + error * error
        }
    }

    /// Weighted normal equations on the chosen columns, each scaled to unit maximum for conditioning.
    private static func solve(rows: [[Double]], targets: [Double], columns: [Int]) -> [Double]? {
        let n = columns.count
        let scale = columns.map { c in max(rows.map { abs($0[c]) }.max() ?? 0, .leastNormalMagnitude) }
        var a = [[Double]](repeating: [Double](repeating: 0, count: n + 1), count: n)
        for (row, y) in zip(rows, targets) {
            let w = 1 / max(abs(y), .leastNormalMagnitude)
            let x = columns.enumerated().map { k, c in row[c] / scale[k] * w }
            for i in 0 ..< n {
                for j in 0 ..< n { a[i][j] += x[i] * x[j] }
                a[i][n] += x[i] * y * w
            }
        }
        // Gaussian elimination with partial pivoting; a pivot this small relative to the diagonal means collinear columns.
        let tiny = 1e-10 * ((0 ..< n).map { a[$0][$0] }.max() ?? 0)
        for col in 0 ..< n {
            guard let pivot = (col ..< n).max(by: { abs(a[$0][col]) < abs(a[$1][col]) }), abs(a[pivot][col]) > tiny else { return nil }
            a.swapAt(col, pivot)
            for r in 0 ..< n where r != col {
                let f = a[r][col] / a[col][col]
                for c in col ... n { a[r][c] -= f * a[col][c] }
            }
        }
        return (0 ..< n).map { a[$0][n] / a[$0][$0] / scale[$0] }
    }
}
