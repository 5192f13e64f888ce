import Foundation

/// The JSON object in a model folder's config file (`model_index.json`, `scheduler_config.json`, …).
func readConfigObject(_ url: URL) throws(DiffusionError) -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: url.path) else { throw .missingFile(url.path) }
    guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw .invalidConfig(file: url.path, detail: "not a JSON object")
    }
    return json
}
