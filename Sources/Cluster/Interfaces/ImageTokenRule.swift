import Foundation

/// How an image's size maps to the tokens the LLM sees (computed ahead of time, as ModServe does).
public enum ImageTokenRule: Sendable, Hashable, Codable {
    /// Qwen2-VL / Qwen2.5-VL: resize to multiples of `patch·merge` within [minPixels, maxPixels],
    /// then one token per `(patch·merge)²` pixels.
    case qwen2VL(patch: Int, merge: Int, minPixels: Int, maxPixels: Int)
    /// Tiled encoders (InternVL dynamic tiling, Llama 3.2 Vision): `min(maxTiles, ⌈w/tile⌉·⌈h/tile⌉)`
    /// tiles (+1 thumbnail tile when more than one and `thumbnail`), `tokensPerTile` each.
    case tiles(tileSize: Int, maxTiles: Int, tokensPerTile: Int, thumbnail: Bool)
    /// Every image costs the same.
    case fixed(tokens: Int)

    /// LLM-visible tokens of a `width × height` image.
    public func tokens(width: Int, height: Int) -> Int {
        let w = max(1, width), h = max(1, height)
        switch self {
        case let .qwen2VL(patch, merge, minPixels, maxPixels):
            let factor = Double(patch * merge)
            // Python's round() is round-half-even; match it for parity with the HF processor.
            var hb = (Double(h) / factor).rounded(.toNearestOrEven) * factor
            var wb = (Double(w) / factor).rounded(.toNearestOrEven) * factor
            if hb * wb > Double(maxPixels) {
                let beta = (Double(h * w) / Double(maxPixels)).squareRoot()
                hb = max(factor, (Double(h) / beta / factor).rounded(.down) * factor)
                wb = max(factor, (Double(w) / beta / factor).rounded(.down) * factor)
            } else if hb * wb < Double(minPixels) {
                let beta = (Double(minPixels) / Double(h * w)).squareRoot()
                hb = (Double(h) * beta / factor).rounded(.up) * factor
                wb = (Double(w) * beta / factor).rounded(.up) * factor
            }
            return Int(hb / factor) * Int(wb / factor)
        case let .tiles(tileSize, maxTiles, tokensPerTile, thumbnail):
            let grid = ((w + tileSize - 1) / tileSize) * ((h + tileSize - 1) / tileSize)
            let tiles = min(maxTiles, grid)
            return (tiles + (thumbnail && tiles > 1 ? 1 : 0)) * tokensPerTile
        case let .fixed(tokens):
            return tokens
        }
    }

    public func validate() throws(ClusterError) {
        switch self {
        case let .qwen2VL(patch, merge, minPixels, maxPixels):
            guard patch > 0, merge > 0, minPixels > 0, maxPixels >= minPixels else { throw .invalidArgument("qwen2VL image rule needs positive patch, merge and pixel bounds") }
        case let .tiles(tileSize, maxTiles, tokensPerTile, _):
            guard tileSize > 0, maxTiles > 0, tokensPerTile > 0 else { throw .invalidArgument("tiles image rule needs positive sizes") }
        case let .fixed(tokens):
            guard tokens > 0 else { throw .invalidArgument("fixed image rule needs positive tokens") }
        }
    }
}
