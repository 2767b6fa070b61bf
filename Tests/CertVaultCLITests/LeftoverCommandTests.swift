import CertVaultTesting
import Foundation
import Testing

@Suite("After a SIGKILL: issue and export leave nothing that blocks or lingers", .serialized)
struct LeftoverCommandTests {
    func env(_ dir: TemporaryDirectory) -> [String: String] {
        ["CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("vault-key/root.key")]
    }

    /// A vault with one stored generation of `contoso`.
    func vaultWithContoso(_ dir: TemporaryDirectory) throws {
        try #require(try CLI.run(["init"], environment: env(dir)).status == 0)
        let issued = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy], environment: env(dir))
        try #require(issued.status == 0, "\(issued.stderr)")
    }

    func start(_ arguments: [String], environment: [String: String], stdout: Any = FileHandle.nullDevice) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(CLI.isolation.merging(environment) { $1 }) { $1 }
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("an export killed before it wrote anything does not block its rerun")
    func killedExport() throws {
        let dir = try TemporaryDirectory()
        try vaultWithContoso(dir)
        // Hold the vault's lock: the export stops at its audited read, as a slow disk would stop it.
        let lock = open(dir.file("vault/lock"), O_RDWR)
        try #require(lock >= 0 && flock(lock, LOCK_EX) == 0)
        let process = try start(["export", "contoso", "--out", dir.file("x.pfx")], environment: env(dir))
        usleep(1_500_000)
        #expect(process.isRunning, "the export should wait for the lock")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        flock(lock, LOCK_UN)
        close(lock)

        let rerun = try CLI.run(["export", "contoso", "--out", dir.file("x.pfx")], environment: env(dir))
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let password = try String(contentsOfFile: dir.file("x.pfx.password"), encoding: .utf8)
        #expect(password.count > 10)
        if ExternalTool.openssl.isAvailable {
            let info = try ExternalTool.openssl.run(["pkcs12", "-info", "-noout", "-in", dir.file("x.pfx"), "-passin", "file:\(dir.file("x.pfx.password"))"])
            #expect(info.status == 0, "\(info.stderr)")
        }
    }

    @Test("a password file left by an interrupted export: empty is replaced, the same password kept, another refused")
    func leftoverPasswordFiles() throws {
        let dir = try TemporaryDirectory()
        try vaultWithContoso(dir)
        let first = try CLI.run(["export", "contoso", "--out", dir.file("a.pfx")], environment: env(dir))
        try #require(first.status == 0, "\(first.stderr)")
        let password = try String(contentsOfFile: dir.file("a.pfx.password"), encoding: .utf8)

        // Killed between the password file and the PFX: the password is there, the PFX is not.
        _ = try dir.write("b.pfx.password", password)
        let kept = try CLI.run(["export", "contoso", "--out", dir.file("b.pfx")], environment: env(dir))
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(kept.stderr.contains("kept"))
        #expect(FileManager.default.fileExists(atPath: dir.file("b.pfx")))

        // Killed by an older release right after it created the password file.
        _ = try dir.write("c.pfx.password", "")
        let replaced = try CLI.run(["export", "contoso", "--out", dir.file("c.pfx")], environment: env(dir))
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stderr.contains("empty"))
        #expect(try String(contentsOfFile: dir.file("c.pfx.password"), encoding: .utf8) == password)

        // Someone else's password is never overwritten.
        _ = try dir.write("d.pfx.password", "not this one\n")
        let refused = try CLI.run(["export", "contoso", "--out", dir.file("d.pfx")], environment: env(dir))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("holds another password"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("d.pfx")))
        #expect(try String(contentsOfFile: dir.file("d.pfx.password"), encoding: .utf8) == "not this one\n")
    }

    @Test("an issue killed with its export staged leaves a folder that the next issue into that folder shreds, with a note")
    func killedIssueStaging() throws {
        let dir = try TemporaryDirectory()
        let exports = dir.file("exports")
        // The PFX password goes to stdout, a pipe filled to the brim beforehand: the issue blocks
        // writing it, after every file is staged and before the folder is published.
        let pipe = Pipe()
        let writeEnd = pipe.fileHandleForWriting.fileDescriptor
        let flags = fcntl(writeEnd, F_GETFL)
        _ = fcntl(writeEnd, F_SETFL, flags | O_NONBLOCK)
        let one: [UInt8] = [0x2E]
        while write(writeEnd, one, 1) == 1 {}
        _ = fcntl(writeEnd, F_SETFL, flags)
        let process = try start(["issue", "contoso", "--out", exports, "--password-out", "fd:1", "--policy", CLI.defaultPolicy],
                                environment: [:], stdout: pipe)
        let deadline = Date().addingTimeInterval(120)
        var staged: String?
        while staged == nil && Date() < deadline && process.isRunning {
            staged = ((try? FileManager.default.contentsOfDirectory(atPath: exports)) ?? []).first {
                $0.hasPrefix(".staging-contoso-") && FileManager.default.fileExists(atPath: "\(exports)/\($0)/summary.json")
            }
            usleep(20_000)
        }
        usleep(200_000)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? pipe.fileHandleForWriting.close()
        let leftover = try #require(staged, "the issue never staged its export")
        try #require(FileManager.default.fileExists(atPath: "\(exports)/\(leftover)/contoso.pfx"), "the kill should leave the staged PFX")

        sleep(3)  // older than the grace period that covers a live run between mkdir and lock
        let next = try CLI.run(["issue", "fabrikam", "--out", exports, "--policy", CLI.defaultPolicy])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("removed 1 unfinished export folder"), "\(next.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: exports)
        #expect(!names.contains { $0.hasPrefix(".staging") }, "\(names)")
        #expect(names.contains("fabrikam"))
    }

    @Test("vault backup into a missing folder names the folder, not a temporary file, and says to create it")
    func backupIntoMissingFolder() throws {
        let dir = try TemporaryDirectory()
        try #require(try CLI.run(["init"], environment: env(dir)).status == 0)
        let result = try CLI.run(["vault", "backup", "--out", dir.file("backups/vault.cvb")], environment: env(dir))
        #expect(result.status != 0)
        #expect(result.stderr.contains("'\(dir.file("backups"))' does not exist"), "\(result.stderr)")
        #expect(result.stderr.contains("mkdir"))
        #expect(!result.stderr.contains(".tmp"), "\(result.stderr)")
    }

    @Test("vault cleanup reports what it removed")
    func cleanupCommand() throws {
        let dir = try TemporaryDirectory()
        try vaultWithContoso(dir)
        _ = try dir.write("vault/tenants/contoso/.tmp-0123456789abcdef", "half an entry")
        let result = try CLI.run(["vault", "cleanup"], environment: env(dir))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("tenants/contoso/.tmp-0123456789abcdef"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/tenants/contoso/.tmp-0123456789abcdef")))
        #expect(try CLI.run(["vault", "cleanup"], environment: env(dir)).stdout.contains("No leftovers"))
    }
}
