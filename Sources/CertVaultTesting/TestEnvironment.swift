import Foundation

/// Facts about where the tests run.
public enum TestEnvironment {
    /// True when the tools that check our output must be present (CI sets
    /// `CERTVAULT_REQUIRE_TOOLS=1`); a missing tool then fails a test instead of skipping it.
    public static var toolsRequired: Bool { ProcessInfo.processInfo.environment["CERTVAULT_REQUIRE_TOOLS"] == "1" }

    /// The package's root folder, found from this file's location.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The folder holding the built products (`certvault`, the test bundle).
    public static let productsDirectory: String = {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }()

    /// The path of a shipped policy, e.g. `policy("default")`.
    public static func policy(_ name: String) -> String { "\(packageRoot)/policy/\(name).toml" }
}

/// A fresh private folder under the system's temporary folder, removed when released.
public final class TemporaryDirectory: @unchecked Sendable {
    /// Its path.
    public let path: String

    /// Creates the folder (mode 0700).
    public init() throws {
        var template = Array("\(NSTemporaryDirectory())/certvault-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the folder.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes a file inside the folder and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let target = file(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: target)
        return target
    }

    /// Writes bytes inside the folder and returns the path.
    @discardableResult
    public func write(_ name: String, bytes: [UInt8]) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    /// The permission bits of a path inside (or outside) the folder.
    public static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int ?? -1) & 0o777
    }

    /// Every name below the folder, recursively, sorted.
    public func listing() throws -> [String] {
        (FileManager.default.subpaths(atPath: path) ?? []).sorted()
    }
}
