internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Every access policy of a folder (`policy/access/*.toml`), by name.
///
/// Loading is all or nothing: one bad file fails the whole load, and the service does not start, so a
/// policy that does not parse never grants anything by default (nor silently nothing, which would hide
/// the mistake until 3 a.m.).
public struct AccessPolicySet: Sendable, Hashable {
    /// The policies by name.
    public let policies: [String: AccessPolicy]

    /// A set of the given policies.
    ///
    /// - Throws: ``CertVaultError`` `invalid-access-policy` when two have the same name.
    public init(_ policies: [AccessPolicy]) throws {
        var byName: [String: AccessPolicy] = [:]
        for policy in policies {
            if let other = byName[policy.name] {
                throw CertVaultError(
                    .invalidAccessPolicy,
                    "Access policy '\(policy.file)' line 1: the name '\(policy.name)' is also used by '\(other.file)'.",
                    hint: "Give every access policy its own name.")
            }
            byName[policy.name] = policy
        }
        self.policies = byName
    }

    /// No policies.
    public static let empty = try! AccessPolicySet([])

    /// The policy named `name`, if any.
    public subscript(name: String) -> AccessPolicy? { policies[name] }

    /// The names, sorted.
    public var names: [String] { policies.keys.sorted() }

    /// The largest access policy file read (they are a few lines).
    static let fileLimit = 64 << 10

    /// Reads every `*.toml` file in `folder` (other names, hidden files and sub-folders are ignored).
    /// A folder that does not exist, or holds no `.toml` file, is an empty set.
    ///
    /// - Throws: ``CertVaultError`` `invalid-access-policy` naming the file and line of the first bad
    ///   file (see ``AccessPolicy/parse(_:file:)``) or of a duplicate name; `insecure-permissions` for a
    ///   file or folder that other users may write (whoever can edit a policy can widen every token bound
    ///   to it); `file-system` when a file cannot be read.
    public static func load(folder: String) throws -> AccessPolicySet {
        var info = stat()
        guard stat(folder, &info) == 0 else {
            if errno == ENOENT { return .empty }
            throw CertVaultError(
                .fileSystem, "Cannot read the access policy folder '\(folder)'.",
                hint: "Check the path and that you may read it.", underlying: PrivateFiles.errnoText())
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CertVaultError(.fileSystem, "'\(folder)' is not a folder.", hint: "Point the access policy folder at a folder.")
        }
        try checkNotWorldWritable(info, path: folder)
        var policies: [AccessPolicy] = []
        for name in PrivateFiles.names(in: folder).sorted() where name.hasSuffix(".toml") && !name.hasPrefix(".") {
            let path = folder.hasSuffix("/") ? folder + name : "\(folder)/\(name)"
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            try checkNotWorldWritable(info, path: path)
            guard info.st_size <= fileLimit else {
                throw CertVaultError(
                    .invalidAccessPolicy, "Access policy '\(path)' is \(info.st_size) bytes; the limit is \(fileLimit).",
                    hint: "An access policy is a few lines; check that this is the right file.")
            }
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw CertVaultError(.fileSystem, "Cannot read access policy '\(path)'.", hint: "Check that you may read it.")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw CertVaultError(.invalidAccessPolicy, "Access policy '\(path)' is not UTF-8 text.", hint: "Save it as UTF-8.")
            }
            policies.append(try AccessPolicy.parse(text, file: path))
        }
        return try AccessPolicySet(policies)
    }

    private static func checkNotWorldWritable(_ info: stat, path: String) throws {
        guard info.st_mode & 0o002 != 0 else { return }
        throw CertVaultError(
            .insecurePermissions, "'\(path)' may be changed by any user (mode \(String(info.st_mode & 0o777, radix: 8))).",
            hint: "Run 'chmod o-w \(path)'; whoever can edit an access policy can widen every token bound to it.")
    }
}
