import CertVaultTesting
import Foundation
import Testing

/// `certvault vb365 simulate` as a separate process, stopped when released.
final class SimulatorProcess: @unchecked Sendable {
    let dir: TemporaryDirectory
    let process = Process()
    let facts: [String: String]

    init(_ arguments: [String] = []) throws {
        dir = try TemporaryDirectory()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["vb365", "simulate", "--port", "0", "--state-dir", dir.file("sim"), "--ready-file", dir.file("ready.json")] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: dir.file("ready.json")) && Date() < deadline && process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.file("ready.json")))
        facts = (try JSONSerialization.jsonObject(with: data) as? [String: String]) ?? [:]
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var url: String { facts["url"] ?? "" }
    var caFile: String { dir.file("sim/ca.pem") }
    var passwordFile: String { dir.file("sim/password") }
}

@Suite("certvault vb365 check and simulate")
struct VB365CommandTests {
    @Test("simulate prints how to trust it; check logs in and reports version and organizations, as text and JSON")
    func checkAgainstSimulator() throws {
        let simulator = try SimulatorProcess(["--api-version", "v6"])
        #expect(simulator.facts["pin"]?.hasPrefix("sha256//") == true)
        #expect(try TemporaryDirectory.mode(simulator.passwordFile) == 0o600)
        #expect(try TemporaryDirectory.mode(simulator.dir.file("sim")) == 0o700)
        let base = ["vb365", "check", "--url", simulator.url, "--user", "VB365\\admin", "--vb365-password-file", simulator.passwordFile]
        let text = try CLI.run(base + ["--ca-file", simulator.caFile])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("REST API:       v6"))
        #expect(text.stdout.contains("organizations:  0"))
        let json = try CLI.run(base + ["--pin", simulator.facts["pin"]!, "--ca-file", simulator.caFile, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["apiVersion"] as? String == "v6")
        #expect(object["organizations"] as? Int == 0)
    }

    @Test("precise reasons: untrusted certificate, wrong password, nothing listening, missing password source")
    func failures() throws {
        let simulator = try SimulatorProcess()
        let base = ["vb365", "check", "--url", simulator.url, "--user", "VB365\\admin"]
        let untrusted = try CLI.run(base + ["--vb365-password-file", simulator.passwordFile])
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("not trusted"))
        let wrong = try simulator.dir.write("wrong", "wrong-password\n")
        let refused = try CLI.run(base + ["--ca-file", simulator.caFile, "--vb365-password-file", wrong])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("refused the password login"))
        #expect(!refused.stderr.contains("wrong-password"))
        let closed = try CLI.run(["vb365", "check", "--url", "https://127.0.0.1:1", "--user", "x", "--vb365-password-file", wrong, "--timeout", "2"])
        #expect(closed.status == 1)
        #expect(closed.stderr.contains("Nothing accepts connections"))
        let noPassword = try CLI.run(base + ["--ca-file", simulator.caFile])
        #expect(noPassword.status == 1)
        #expect(noPassword.stderr.contains("never taken as arguments"))
        let notLoopback = try CLI.run(["vb365", "simulate", "--host", "0.0.0.0"])
        #expect(notLoopback.status != 0)
        #expect(notLoopback.stderr.contains("loopback only"))
    }
}
