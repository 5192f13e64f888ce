import ExtrasBase64
import Foundation

/// Where a chat message's `image_url` points: inline bytes or an allowed remote URL.
///
/// `file:` URLs are never read: a client must not make the server open its own files.
enum ImageSource: Sendable, Equatable {
    case inline(Data)
    case remote(URL)

    /// Parses an `image_url.url`; `param` names the field in error messages.
    static func parse(_ string: String, param: String) throws(APIError) -> ImageSource {
        if string.hasPrefix("data:") { return .inline(try decodeDataURI(string, param: param)) }
        guard let url = URL(string: string), let scheme = url.scheme?.lowercased() else {
            throw .invalidRequest("'\(param)' is not a valid URL", param: param, code: "invalid_image_url")
        }
        switch scheme {
        case "http", "https":
            guard url.host?.isEmpty == false else {
                throw .invalidRequest("'\(param)' has no host", param: param, code: "invalid_image_url")
            }
            try checkPort(string, param: param)
            return .remote(url)
        case "file":
            throw .invalidRequest("file: URLs are not allowed in '\(param)'", param: param, code: "media_url_not_allowed")
        default:
            throw .invalidRequest(
                "unsupported URL scheme '\(APIError.excerpt(scheme))' in '\(param)' (use a data: URI or http(s))", param: param,
                code: "invalid_image_url")
        }
    }

    /// A URL's port, when it names one, must be 1…65535: Foundation passes `:65536` on as is (the
    /// HTTP client then traps or wraps it to another port) and drops one past `Int.max`.
    private static func checkPort(_ string: String, param: String) throws(APIError) {
        guard let start = string.range(of: "://")?.upperBound else { return }
        let authority = string[start...].prefix { !"/?#".contains($0) }
        let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? authority[...]
        guard !hostPort.hasSuffix("]"), let colon = hostPort.lastIndex(of: ":") else { return }
        let port = hostPort[hostPort.index(after: colon)...]
        guard !port.isEmpty else { return }
        guard port.utf8.count <= 5, port.allSatisfy(\.isASCII), let number = Int(port), (1...65535).contains(number) else {
            throw .invalidRequest(
                "'\(param)' has port \(APIError.excerpt(String(port))); a port is a number from 1 to 65535", param: param,
                code: "invalid_image_url")
        }
    }

    /// `data:image/png;base64,<payload>`.
    private static func decodeDataURI(_ string: String, param: String) throws(APIError) -> Data {
        guard let comma = string.firstIndex(of: ",") else {
            throw .invalidRequest("the data URI in '\(param)' has no ',' before its payload", param: param, code: "invalid_image_url")
        }
        let header = string[string.index(string.startIndex, offsetBy: 5)..<comma].lowercased()
        let parts = header.split(separator: ";", omittingEmptySubsequences: false)
        let mediaType = parts.first.map(String.init) ?? ""
        guard mediaType.isEmpty || mediaType.hasPrefix("image/") else {
            throw .invalidRequest(
                "the data URI in '\(param)' has media type '\(mediaType)', not an image", param: param, code: "invalid_image")
        }
        guard parts.dropFirst().contains("base64") else {
            throw .invalidRequest("the data URI in '\(param)' must be base64-encoded (';base64,')", param: param, code: "invalid_base64")
        }
        // Line breaks and spaces may wrap the payload; they are filtered out only when present,
        // since a megabyte-sized image is usually one line. Native strings are contiguous UTF-8, so
        // both passes run over a plain buffer rather than String's views.
        var string = string
        let start = string.utf8.distance(from: string.utf8.startIndex, to: comma) + 1
        let decoded = string.withUTF8 { utf8 -> [UInt8]? in
            let payload = UnsafeBufferPointer(rebasing: utf8[start...])
            let isSpace = { (byte: UInt8) in byte == 0x20 || (0x09...0x0D).contains(byte) }
            return payload.contains(where: isSpace)
                ? try? Base64.decode(bytes: payload.filter { !isSpace($0) }) : try? Base64.decode(bytes: payload)
        }
        guard let decoded else {
            throw .invalidRequest("the data URI in '\(param)' is not valid base64", param: param, code: "invalid_base64")
        }
        return Data(decoded)
    }
}
