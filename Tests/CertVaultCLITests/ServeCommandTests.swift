import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `certvault serve` process of this test: started with a configuration file, found through its
/// ready file, stopped with a signal.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let readyFile: String
    let stdoutFile: String
    let stderrFile: String

    init(configFile: String, dir: TemporaryDirectory, environment: [String: String], name: String = "serve") throws {
        readyFile = dir.file("\(name)-ready.json")
        stdoutFile = dir.file("\(name)-\(PrivateFiles.randomName().prefix(6)).out")
        stderrFile = stdoutFile + ".err"
        _ = FileManager.default.createFile(atPath: stdoutFile, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["serve", "--config", configFile, "--ready-file", readyFile]
        process.environment = ProcessInfo.processInfo.environment.merging(CLI.isolation) { $1 }.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: stdoutFile)
        process.standardError = FileHandle(forWritingAtPath: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var stdout: String { (try? String(contentsOfFile: stdoutFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// Waits for the ready file (the service listens); throws with its output when it ended instead.
    func ready(timeout: Double = 120) throws -> ReadyInfo {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: readyFile), !data.isEmpty,
               let info = try? JSONDecoder().decode(ReadyInfo.self, from: data) {
                return info
            }
            if !process.isRunning {
                throw ToolMissing(name: "certvault serve ended (status \(process.terminationStatus)) before it listened: \(stderr.suffix(2000))")
            }
            usleep(50_000)
        }
        throw ToolMissing(name: "certvault serve did not listen within \(timeout) s: \(stderr.suffix(2000))")
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to end; nil when it still runs after `timeout` seconds.
    func exitStatus(timeout: Double = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

/// The ready file's content, as a client reads it.
struct ReadyInfo: Codable {
    var url: String
    var port: Int
    var fingerprintSHA256: String?
    var publicKeyPin: String?
    var certificateFile: String?
    var pid: Int32
}

/// A simulator in this process, a vault made with `certvault init`, and a configuration file for
/// `certvault serve` pointing at both.
final class ServeWorld: @unchecked Sendable {
    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let env: [String: String]
    let connection: [String]

    init(grace: Int = 5, pollInterval: Int = 1, tls: String = "mode = \"self-signed\"", vb365: Bool = true,
         _ change: (inout VB365Simulator.Configuration) -> Void = { _ in }) throws {
        var configuration = VB365Simulator.Configuration(version: .v8, users: ["VB365\\admin": "serve-test-password"])
        change(&configuration)
        simulator = try VB365Simulator(configuration: configuration)
        try simulator.start()
        dir = try TemporaryDirectory()
        let ca = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        let password = try dir.write("vb365-password", "serve-test-password\n")
        var env = ["CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("key/root.key"),
                   "CERTVAULT_ONBOARDING": dir.file("onboarding"), "CERTVAULT_POLICY": CLI.defaultPolicy]
        if vb365 {
            env["CERTVAULT_VB365_URL"] = simulator.baseURL
            env["CERTVAULT_VB365_USER"] = "VB365\\admin"
        }
        self.env = env
        connection = ["--ca-file", ca, "--vb365-password-file", password]
        let initialized = try CLI.run(["init"], environment: env)
        guard initialized.status == 0 else { throw ToolMissing(name: "certvault init: \(initialized.stderr)") }
        let vb365Table = vb365 ? """
            [vb365]
            url = "\(simulator.baseURL)"
            user = "VB365\\\\admin"
            password_file = "\(password)"
            ca_file = "\(ca)"
            connect_timeout = 5
            timeout = 20

            """ : ""
        _ = try dir.write("certvault.toml", """
            [listen]
            host = "127.0.0.1"
            port = 0
            [tls]
            \(tls)
            [vault]
            path = "\(dir.file("vault"))"
            key_file = "\(dir.file("key/root.key"))"
            \(vb365Table)[onboarding]
            state_dir = "\(dir.file("onboarding"))"
            policy = "\(CLI.defaultPolicy)"
            poll_interval = \(pollInterval)
            [limits]
            shutdown_grace_seconds = \(grace)

            """)
    }

    deinit { simulator.stop() }

    var configFile: String { dir.file("certvault.toml") }

    func serve(name: String = "serve") throws -> ServeProcess {
        try ServeProcess(configFile: configFile, dir: dir, environment: env, name: name)
    }

    /// The CLI with this world's vault, onboarding folder and VB365 connection.
    func run(_ arguments: [String]) throws -> ProcessOutput {
        let needsConnection = ["start", "wait", "resume", "renew-code"].contains(arguments.dropFirst().first ?? "")
        return try CLI.run(arguments + (needsConnection ? connection : []), environment: env)
    }

    func state(_ tenant: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dir.file("onboarding/\(tenant).json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["state"] as? String
    }

    func posts() -> Int { simulator.received().filter { $0.method == "POST" && $0.path.hasSuffix("/Organizations") }.count }
}

/// Waits until `condition` holds; false after `seconds`.
func waitUntil(_ seconds: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

/// GET over HTTPS with our libcurl client, trusting exactly the given certificate and pin.
func httpsGet(_ url: String, caFile: String?, pin: String?) throws -> HTTPResponse {
    let trust: HTTPTrust = if let pin { .pinnedPublicKey(pin, caFile: caFile) } else if let caFile { .caFile(caFile) } else { .systemStore }
    let client = try HTTPClient(configuration: .init(trust: trust, connectTimeout: 5, totalTimeout: 10, allowPlainHTTPToLoopback: true),
                                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    return try client.send(HTTPRequest(method: "GET", url: url))
}

@Suite("certvault serve: start, TLS, one service per vault, signals", .serialized)
struct ServeCommandTests {
    @Test("serve listens over TLS with a self-signed certificate; /healthz answers with the printed fingerprint and pin")
    func healthOverTLS() throws {
        let world = try ServeWorld()
        let serve = try world.serve()
        let ready = try serve.ready()
        #expect(ready.url == "https://127.0.0.1:\(ready.port)")
        #expect(ready.port > 0)
        let fingerprint = try #require(ready.fingerprintSHA256)
        let pin = try #require(ready.publicKeyPin)
        let certificate = try #require(ready.certificateFile)
        #expect(serve.stdout.contains("listening on \(ready.url)"))
        #expect(serve.stdout.contains(fingerprint), "the fingerprint is printed at start")

        let answer = try httpsGet(ready.url + "/healthz", caFile: certificate, pin: pin)
        #expect(answer.status == 200)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("alive"))
        let metrics = try httpsGet(ready.url + "/metrics", caFile: certificate, pin: pin)
        #expect(metrics.status == 200)
        #expect(String(decoding: metrics.body, as: UTF8.self).contains("certvault_http_requests_total"), "the API's metrics are served")
        #expect(try httpsGet(ready.url + "/v1/tenants", caFile: certificate, pin: pin).status == 401, "the API needs a token")
        // /readyz logs in to the VB365 simulator: those exchanges are counted.
        #expect(try httpsGet(ready.url + "/readyz", caFile: certificate, pin: pin).status == 200)
        let counted = String(decoding: try httpsGet(ready.url + "/metrics", caFile: certificate, pin: pin).body, as: UTF8.self)
        let successes = counted.split(separator: "\n").first { $0.hasPrefix("certvault_vb365_calls_total{outcome=\"success\"}") }
        #expect(successes.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { $0 > 0 } == true,
                "VB365 calls are counted: \(successes ?? "missing")")

        // A client pinning another key is refused: the pin is what protects it.
        let wrongPin = "sha256//" + String(repeating: "A", count: 43) + "="
        #expect(throws: CertVaultError.self) { try httpsGet(ready.url + "/healthz", caFile: certificate, pin: wrongPin) }

        // An independent tool agrees on the fingerprint of the certificate the server presents.
        if ExternalTool.openssl.isAvailable {
            let shown = try ExternalTool.openssl.run(["x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"])
            #expect(shown.stdout.uppercased().contains(fingerprint), "\(shown.stdout)")
        }
        serve.signal(SIGTERM)
        #expect(serve.exitStatus() == 0)
    }

    @Test("a second serve on the same vault is refused with a clear error; the CLI keeps working on the vault")
    func secondServeRefused() throws {
        let world = try ServeWorld()
        let first = try world.serve()
        let ready = try first.ready()
        let second = try world.serve(name: "second")
        #expect(second.exitStatus() == 1)
        #expect(second.stderr.contains("already serving the vault"), "\(second.stderr)")
        #expect(second.stderr.contains("process \(ready.pid)"), "names the process holding it")
        #expect(!FileManager.default.fileExists(atPath: second.readyFile))

        let list = try world.run(["list"])
        #expect(list.status == 0, "\(list.stderr)")
        let issued = try world.run(["issue", "lima", "--org", "Lima"])
        #expect(issued.status == 0, "the CLI writes to the vault while the service runs: \(issued.stderr)")
        #expect(try httpsGet(ready.url + "/healthz", caFile: ready.certificateFile, pin: nil).status == 200)

        first.signal(SIGTERM)
        #expect(first.exitStatus() == 0)
        // Once the first is gone, the lock is free again.
        let third = try world.serve(name: "third")
        _ = try third.ready()
        third.signal(SIGINT)
        #expect(third.exitStatus() == 0)
    }

    @Test("SIGTERM stops it cleanly: exit status 0, ready file removed, port closed")
    func sigtermStops() throws {
        let world = try ServeWorld(vb365: false)
        let serve = try world.serve()
        let ready = try serve.ready()
        #expect(serve.stdout.contains("onboarding worker: off"))
        serve.signal(SIGTERM)
        #expect(serve.exitStatus(timeout: 30) == 0)
        #expect(!FileManager.default.fileExists(atPath: serve.readyFile))
        #expect(throws: CertVaultError.self) { try httpsGet(ready.url + "/healthz", caFile: ready.certificateFile, pin: nil) }
    }

    @Test("plain-loopback serves plain HTTP on 127.0.0.1, and is refused on another address")
    func plainLoopback() throws {
        let world = try ServeWorld(tls: "mode = \"plain-loopback\"", vb365: false)
        let serve = try world.serve()
        let ready = try serve.ready()
        #expect(ready.url.hasPrefix("http://127.0.0.1:"))
        #expect(ready.fingerprintSHA256 == nil)
        #expect(try httpsGet(ready.url + "/healthz", caFile: nil, pin: nil).status == 200)
        serve.signal(SIGTERM)
        #expect(serve.exitStatus() == 0)

        let refused = try CLI.run(["serve", "--config", world.configFile],
                                  environment: world.env.merging(["CERTVAULT_LISTEN_HOST": "0.0.0.0"]) { $1 })
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not a loopback address"), "\(refused.stderr)")
    }

    @Test("an access policy that does not parse, or names an unknown scope, stops the start with its file and line")
    func badAccessPolicy() throws {
        let world = try ServeWorld(vb365: false)
        try FileManager.default.createDirectory(atPath: world.dir.file("policy/access"), withIntermediateDirectories: true)
        _ = try world.dir.write("policy/access/portal.toml", "name = \"portal\"\nscopes = [\"onboarding:write\", \"tenants:everything\"]\ntenants = \"*\"\n")
        let config = try String(contentsOfFile: world.configFile, encoding: .utf8) + "[policy]\nfolder = \"\(world.dir.file("policy"))\"\n"
        let file = try world.dir.write("bad-policy.toml", config)
        let serve = try CLI.run(["serve", "--config", file, "--ready-file", world.dir.file("never.json")], environment: world.env)
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("portal.toml"), "\(serve.stderr)")
        #expect(serve.stderr.contains("tenants:everything"), "\(serve.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.dir.file("never.json")), "it never listened")
        // The lock went with the refused process: a good configuration starts.
        let good = try world.serve()
        _ = try good.ready()
        good.signal(SIGTERM)
        #expect(good.exitStatus() == 0)
    }

    @Test("tls files: the configured certificate is served; a key that does not fit it stops the start")
    func tlsFiles() throws {
        guard ExternalTool.openssl.isAvailable else {
            if TestEnvironment.toolsRequired { Issue.record("openssl is not installed") }
            return
        }
        let dir = try TemporaryDirectory()
        for name in ["a", "b"] {
            let made = try ExternalTool.openssl.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("\(name).key"),
                                                    "-out", dir.file("\(name).pem"), "-days", "2", "-subj", "/CN=localhost",
                                                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            #expect(made.status == 0, "\(made.stderr)")
            chmod(dir.file("\(name).key"), 0o600)
        }
        let world = try ServeWorld(tls: "mode = \"files\"\ncertificate = \"\(dir.file("a.pem"))\"\nkey = \"\(dir.file("a.key"))\"", vb365: false)
        let serve = try world.serve()
        let ready = try serve.ready()
        #expect(ready.certificateFile == dir.file("a.pem"))
        #expect(try httpsGet(ready.url + "/healthz", caFile: dir.file("a.pem"), pin: ready.publicKeyPin).status == 200)
        let shown = try ExternalTool.openssl.run(["x509", "-in", dir.file("a.pem"), "-noout", "-fingerprint", "-sha256"])
        #expect(shown.stdout.uppercased().contains(try #require(ready.fingerprintSHA256)))
        serve.signal(SIGTERM)
        #expect(serve.exitStatus() == 0)

        let mismatched = try CLI.run(["serve", "--config", world.configFile],
                                     environment: world.env.merging(["CERTVAULT_TLS_KEY": dir.file("b.key")]) { $1 })
        #expect(mismatched.status == 1)
        #expect(mismatched.stderr.contains("does not belong to the certificate"), "\(mismatched.stderr)")
    }
}

@Suite("certvault serve with a passphrase from a descriptor")
struct ServePassphraseDescriptorTests {
    @Test("the passphrase is read once from passphrase_fd: the API's handles and the worker's open with the unlocked key")
    func passphraseFromDescriptor() throws {
        let world = try ServeWorld()
        let vaultDir = world.dir.file("fd-vault")
        let passphrase = try world.dir.write("passphrase", "correct horse battery staple for serve\n")
        let created = try CLI.run(["init", "--vault", vaultDir, "--passphrase-file", passphrase, "--argon2-memory-mib", "64"],
                                  environment: world.env)
        #expect(created.status == 0, "\(created.stderr)")
        // The configuration names the descriptor; the shell opens the file on it, as a unit file or
        // a secrets agent would. Only the descriptor's number is in argv, never the passphrase.
        let original = try String(contentsOfFile: world.configFile, encoding: .utf8)
        let config = original
            .replacingOccurrences(of: "path = \"\(world.dir.file("vault"))\"", with: "path = \"\(vaultDir)\"")
            .replacingOccurrences(of: "key_file = \"\(world.dir.file("key/root.key"))\"", with: "passphrase_fd = 3")
        #expect(config.contains("passphrase_fd = 3") && config.contains(vaultDir))
        let configFile = try world.dir.write("fd.toml", config)
        let readyFile = world.dir.file("fd-ready.json")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" serve --config \"$1\" --ready-file \"$2\" 3<\"$3\"",
                             CLI.binary, configFile, readyFile, passphrase]
        var environment = ProcessInfo.processInfo.environment.merging(CLI.isolation) { $1 }.merging(world.env) { $1 }
        environment["CERTVAULT_VAULT"] = nil
        environment["CERTVAULT_KEY_FILE"] = nil
        process.environment = environment
        let errorsFile = world.dir.file("fd-serve.err")
        _ = FileManager.default.createFile(atPath: errorsFile, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorsFile)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        func readyInfo() -> ReadyInfo? {
            FileManager.default.contents(atPath: readyFile).flatMap { try? JSONDecoder().decode(ReadyInfo.self, from: $0) }
        }
        #expect(waitUntil(120) { readyInfo() != nil || !process.isRunning })
        try #require(process.isRunning, "serve ended: \((try? String(contentsOfFile: errorsFile, encoding: .utf8)) ?? "")")
        let ready = try #require(readyInfo())
        let answer = try httpsGet(ready.url + "/healthz", caFile: ready.certificateFile, pin: ready.publicKeyPin)
        #expect(answer.status == 200)
        kill(process.processIdentifier, SIGTERM)
        #expect(waitUntil(60) { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }
}
