import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Dispatch
import Foundation
import Testing

/// Planted links, FIFOs, other owners and open folders are refused, never followed or blocked on.
@Suite("File safety: planted links and FIFOs, ownership, the key file")
struct FileSafetyTests {
    /// Another user's id; the tests run as root, which may give files away.
    static let otherUser: uid_t = 65534

    /// Runs `body` on another thread and fails if it does not finish within `seconds`; a
    /// reader blocked on the FIFO at `fifo` is then released by opening it for writing.
    static func finishes(within seconds: Int, fifo: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread { body(); done.signal() }.start()
        if done.wait(timeout: .now() + .seconds(seconds)) == .success { return true }
        let fd = open(fifo, O_WRONLY | O_NONBLOCK)
        if fd >= 0 { close(fd) }
        _ = done.wait(timeout: .now() + .seconds(5))
        return false
    }

    @Test("a hard link planted where the audit head's temporary file goes is never written through")
    func plantedAuditHeadLink() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let victim = try dir.write("victim.txt", "precious\n")
        try #require(link(victim, dir.file("vault/.audit.head.tmp")) == 0)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(vault.auditRecords().problems.isEmpty)
    }

    @Test("a vault folder that belongs to another user is refused, with the chown that fixes it")
    func vaultFolderOwner() throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        try #require(chown(dir.file("vault"), Self.otherUser, gid_t.max) == 0)
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
        #expect(error.code == .insecurePermissions)
        #expect(error.reason.contains("belongs to another user"))
        #expect(error.hint?.contains("chown \(geteuid()) \(dir.file("vault"))") == true)
    }

    @Test("a key file that belongs to another user is refused")
    func keyFileOwner() throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        try #require(chown(dir.file("key/root.key"), Self.otherUser, gid_t.max) == 0)
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
        #expect(error.code == .insecurePermissions)
        #expect(error.hint?.contains("chown") == true)
    }

    @Test("a key folder others can open (0755) is refused, with the chmod that fixes it")
    func keyFolderMode() throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        chmod(dir.file("key"), 0o755)
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
        #expect(error.code == .insecurePermissions)
        #expect(error.hint?.contains("chmod 700 \(dir.file("key"))") == true)
    }

    @Test("a key file that is a symbolic link is refused, even to a private key file")
    func keyFileLink() throws {
        let dir = try TemporaryDirectory()
        let (_, _) = try VaultFixtures.keyFileVault(dir)
        try #require(symlink(dir.file("key/root.key"), dir.file("key/link.key")) == 0)
        let error = try #require(throws: CertVaultError.self) {
            try Vault.open(at: dir.file("vault"), unlock: .keyFile(path: dir.file("key/link.key")))
        }
        #expect(error.code == .insecurePermissions)
        #expect(error.reason.contains("symbolic link"))
    }

    @Test("a FIFO in place of a vault file is a clear error, not a hang", arguments: ["keyring", "entry", "index", "audit.log"])
    func fifo(_ file: String) throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload())
        let path = file == "entry" ? dir.file("vault/tenants/contoso/00000001.entry") : dir.file("vault/\(file)")
        unlink(path)
        try #require(mkfifo(path, 0o600) == 0)
        let vaultPath = dir.file("vault")
        nonisolated(unsafe) var failure: CertVaultError?
        nonisolated(unsafe) var listed: Int?
        let finished = Self.finishes(within: 10, fifo: path) {
            do {
                let opened = try Vault.open(at: vaultPath, unlock: protection)
                switch file {
                case "entry": _ = try opened.readOut(tenant: tenant, purpose: "test")
                case "index": listed = try opened.list().count
                case "audit.log": _ = try opened.store(tenant: tenant, payload: VaultFixtures.payload("2"))
                default: break
                }
            } catch let error as CertVaultError {
                failure = error
            } catch {}
        }
        #expect(finished, "certvault blocked on a FIFO in place of \(file)")
        if file == "index" {
            #expect(listed == 1, "list opens the entries instead of the FIFO")
        } else {
            #expect(failure?.reason.contains("not a regular file") == true, "\(String(describing: failure))")
        }
    }
}
