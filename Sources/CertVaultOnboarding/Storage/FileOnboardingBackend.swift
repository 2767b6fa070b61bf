public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// Onboarding records as one JSON file per tenant in a private folder, each replaced atomically
/// (new file, fsync, rename, folder fsync) so a crash leaves the old or the new record, never a
/// torn one. The layout of every release before the shared store, unchanged.
///
/// Layout: `<folder>/<tenant>.json` and `<folder>/<tenant>.lock` (taken with `flock` by the
/// process working on the tenant, so two resumes of one tenant never overlap; the kernel releases
/// it when the process dies). No fencing: one machine, and `flock` dies with its holder.
public struct FileOnboardingBackend: OnboardingRecordBackend {
    /// The folder (0700).
    public let folder: String

    /// Opens (and creates, 0700) the folder.
    public init(folder: String) throws {
        try PrivateFiles.makePrivateDirectory(folder)
        self.folder = folder
    }

    public var location: String { folder }

    /// The record file of a tenant.
    public func path(_ tenant: TenantID) -> String { "\(folder)/\(tenant.rawValue).json" }

    public func read(_ tenant: TenantID) throws -> [UInt8]? {
        let file = path(tenant)
        guard let data = FileManager.default.contents(atPath: file) else {
            if FileManager.default.fileExists(atPath: file) {
                throw CertVaultError(.fileSystem, "Cannot read the onboarding record '\(file)'.", hint: "Check its permissions.")
            }
            return nil
        }
        return Array(data)
    }

    public func readAll() throws -> [(tenant: TenantID, bytes: [UInt8])] {
        try PrivateFiles.names(in: folder).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            let tenant = try TenantID(String(name.dropLast(5)))
            return try read(tenant).map { (tenant, $0) }
        }
    }

    public func write(_ bytes: [UInt8], tenant: TenantID, lease: Lease?) throws {
        let temporary = "\(folder)/.tmp-\(PrivateFiles.randomName())"
        try PrivateFiles.writeNewFile(temporary, bytes: bytes)
        guard rename(temporary, path(tenant)) == 0 else {
            let reason = PrivateFiles.errnoText()
            unlink(temporary)
            throw CertVaultError(.fileSystem, "Cannot replace the onboarding record of '\(tenant)'.", underlying: reason)
        }
        try PrivateFiles.syncDirectory(folder)
    }

    public func withTenant<T>(_ tenant: TenantID, wait: Bool, _ body: (Lease?) throws -> T) throws -> T? {
        let lockPath = "\(folder)/\(tenant.rawValue).lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the lock file '\(lockPath)'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        while flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
            if !wait && errno == EWOULDBLOCK { return nil }
            guard errno == EINTR else {
                throw CertVaultError(.fileSystem, "Cannot lock '\(lockPath)'.", underlying: PrivateFiles.errnoText())
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body(nil)
    }
}
