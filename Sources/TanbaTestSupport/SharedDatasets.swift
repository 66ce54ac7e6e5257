import Foundation

/// Where tests find the real fingerprint sets (`../shared/datasets` beside the checkout).
///
/// Tests that need them use
/// `.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason))`
/// so that a machine without `../shared` runs everything else and says what it skipped.
public enum SharedDatasets {
    /// `TANBA_DATASETS` if set, else `../shared/datasets` relative to the package root.
    public static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["TANBA_DATASETS"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        // .../Sources/TanbaTestSupport/SharedDatasets.swift → package root is three levels up.
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets", isDirectory: true)
    }()

    public static var available: Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent("README.md").path)
    }

    public static let skipReason =
        "../shared/datasets is absent (set TANBA_DATASETS to point at it); real-data test skipped"

    /// A file inside the datasets folder, e.g. `url("sourceafis_test_resources/probe.png")`.
    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public static func data(_ relative: String) throws -> Data { try Data(contentsOf: url(relative)) }
}
