public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// The onboarding records, one JSON file per tenant in a private folder, each replaced
/// atomically (new file, fsync, rename, folder fsync) so a crash leaves the old or the new
/// record, never a torn one. Holds no secrets: the certificate and password stay in the vault.
///
/// Layout: `<folder>/<tenant>.json` and `<folder>/<tenant>.lock` (taken with `flock` by the
/// process working on the tenant, so two resumes of one tenant never overlap).
public struct OnboardingStore: Sendable {
    public let folder: String

    /// Opens (and creates, 0700) the folder.
    public init(folder: String) throws {
        try PrivateFiles.makePrivateDirectory(folder)
        self.folder = folder
    }

    public func path(_ tenant: TenantID) -> String { "\(folder)/\(tenant.rawValue).json" }

    /// The record of a tenant, or nil when it has none.
    public func load(_ tenant: TenantID) throws -> OnboardingRecord? {
        let file = path(tenant)
        guard let data = FileManager.default.contents(atPath: file) else {
            if FileManager.default.fileExists(atPath: file) {
                throw CertVaultError(.fileSystem, "Cannot read the onboarding record '\(file)'.", hint: "Check its permissions.")
            }
            return nil
        }
        do {
            return try JSONDecoder().decode(OnboardingRecord.self, from: data)
        } catch {
            throw CertVaultError(.invalidInput, "The onboarding record '\(file)' is damaged (not the JSON certvault writes).",
                                 hint: "Restore it from a backup, or move it away and start the tenant's onboarding again (look the organization up in VB365 first).")
        }
    }

    /// Every record, sorted by tenant.
    public func all() throws -> [OnboardingRecord] {
        try PrivateFiles.names(in: folder).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            try load(try TenantID(String(name.dropLast(5))))
        }
    }

    /// Writes a record in place of the old one, durably.
    public func save(_ record: OnboardingRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(record)) + [10]
        let temporary = "\(folder)/.tmp-\(PrivateFiles.randomName())"
        try PrivateFiles.writeNewFile(temporary, bytes: bytes)
        guard rename(temporary, path(record.intake.tenant)) == 0 else {
            let reason = PrivateFiles.errnoText()
            unlink(temporary)
            throw CertVaultError(.fileSystem, "Cannot replace the onboarding record of '\(record.intake.tenant)'.", underlying: reason)
        }
        try PrivateFiles.syncDirectory(folder)
    }

    /// Runs `body` holding the tenant's lock; waits while another process holds it.
    public func withTenantLock<T>(_ tenant: TenantID, _ body: () throws -> T) throws -> T {
        let lockPath = "\(folder)/\(tenant.rawValue).lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the lock file '\(lockPath)'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CertVaultError(.fileSystem, "Cannot lock '\(lockPath)'.", underlying: PrivateFiles.errnoText())
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
