import CertVaultCore
import CertVaultHTTP
import CertVaultTesting
import CertVaultVB365
import Logging
import Foundation
import Testing

/// `certvault vb365 simulate` as a separate process, stopped when released.
final class SimulatorProcess: @unchecked Sendable {
    let dir: TemporaryDirectory
    let process = Process()
    let facts: [String: String]

    /// - Parameter password: the account's password, written for the simulator before it starts
    ///   (from secure memory); by default the simulator makes one.
    init(_ arguments: [String] = [], password: SecretBytes? = nil) throws {
        dir = try TemporaryDirectory()
        if let password {
            try PrivateFiles.makePrivateDirectory(dir.file("sim"))
            try PrivateFiles.writeNewFileAtomically(dir.file("sim/password"), secret: password)
        }
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

/// A helper process for a test (a proxy, an openssl s_server), killed when released; `line`
/// is the first line it printed that matched, such as its port.
final class HelperProcess: @unchecked Sendable {
    let process = Process()
    let line: String

    init(_ executable: String, _ arguments: [String], matching: (String) -> Bool = { _ in true }) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var found = ""
        var buffer = Data()
        let handle = pipe.fileHandleForReading
        while found.isEmpty {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte == Data([10]) {
                let text = String(decoding: buffer, as: UTF8.self)
                if matching(text) { found = text }
                buffer = Data()
            } else {
                buffer.append(byte)
            }
        }
        line = found
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// `Tests/Scripts/recording_proxy.py`: records the first line of every request it gets.
final class RecordingProxy: @unchecked Sendable {
    let dir: TemporaryDirectory
    let helper: HelperProcess
    let port: Int

    init(tunnelTo: Int? = nil) throws {
        dir = try TemporaryDirectory()
        let script = "\(TestEnvironment.packageRoot)/Tests/Scripts/recording_proxy.py"
        helper = try HelperProcess(ExternalTool.python3.path!, [script, dir.file("log")] + (tunnelTo.map { ["--tunnel-to", String($0)] } ?? []))
        guard let port = Int(helper.line) else { throw ToolMissing(name: "recording proxy") }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }
    var requests: [String] {
        (try? String(contentsOfFile: dir.file("log"), encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }
}

/// Whether this machine lets an unprivileged process make a user and mount namespace (to put a
/// CA folder of our own at /etc/ssl/certs for one child process).
enum MountNamespace {
    static let available: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        let result = try? ProcessRunner.run("/usr/bin/unshare", ["-rm", "sh", "-c", "mount --bind /tmp /mnt 2>/dev/null || mount -t tmpfs none /mnt"])
        return result?.status == 0
    }()
}

@Suite("vb365 check: trust only the CA file, TLS 1.2 or later, proxies (real subprocesses)", .serialized,
       .enabled(if: ExternalTool.openssl.isAvailable && ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired,
                "openssl and python3 are needed"))
struct VB365TransportCommandTests {
    /// A self-signed CA certificate made by the openssl CLI (a second CA the client must refuse).
    static func otherCA(_ dir: TemporaryDirectory, _ name: String) throws -> String {
        let made = try ExternalTool.openssl.run([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("\(name).key"), "-out", dir.file("\(name).pem"), "-days", "2",
            "-subj", "/CN=\(name)",
        ])
        guard made.status == 0 else { throw ToolMissing(name: "openssl req: \(made.stderr)") }
        return dir.file("\(name).pem")
    }

    @Test("--ca-file trusts that file alone: a server whose CA is only in the system CA folder is refused",
          .enabled(if: MountNamespace.available, "needs unshare -rm (user and mount namespaces) to give a child its own /etc/ssl/certs"))
    func caFileAlone() throws {
        // In a private mount namespace, /etc/ssl/certs is a folder of ours holding the simulator's
        // CA under its subject hash (as c_rehash would) and, as the bundle libcurl opens by
        // default, an unrelated CA. With the system store the simulator is then trusted through
        // the folder (proving the folder is consulted); with --ca-file naming a second, unrelated
        // CA it must be refused: the folder must not be consulted beside the file.
        let simulator = try SimulatorProcess()
        let dir = try TemporaryDirectory()
        let folder = dir.file("certs")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let hash = try ExternalTool.openssl.run(["x509", "-hash", "-noout", "-in", simulator.caFile]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.copyItem(atPath: simulator.caFile, toPath: "\(folder)/\(hash).0")
        let unrelated = try Self.otherCA(dir, "unrelated")
        try FileManager.default.copyItem(atPath: unrelated, toPath: "\(folder)/ca-certificates.crt")
        let second = try Self.otherCA(dir, "second")
        let base = ["vb365", "check", "--url", simulator.url, "--user", "VB365\\admin", "--vb365-password-file", simulator.passwordFile]
        func inNamespace(_ arguments: [String]) throws -> ProcessOutput {
            try ProcessRunner.run("/usr/bin/unshare", ["-rm", "sh", "-c", #"mount --bind "$1" /etc/ssl/certs && shift && exec "$@""#, "sh", folder, CLI.binary]
                                  + arguments, environment: CLI.isolation)
        }
        let system = try inNamespace(base)
        #expect(system.status == 0, "the system store must trust the simulator through the CA folder: \(system.stderr)")
        let pinnedToSecond = try inNamespace(base + ["--ca-file", second])
        #expect(pinnedToSecond.status == 1, "a CA from the system folder was trusted beside --ca-file")
        #expect(pinnedToSecond.stderr.contains("not trusted"), "\(pinnedToSecond.stderr)")
        // And outside the namespace, the right CA file still works.
        #expect(try CLI.run(base + ["--ca-file", simulator.caFile]).status == 0)
    }

    @Test("a server that speaks only TLS 1.1 is refused even where OpenSSL's configuration would allow it")
    func tls11Refused() throws {
        let dir = try TemporaryDirectory()
        let made = try ExternalTool.openssl.run([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("k.pem"), "-out", dir.file("c.pem"), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        #expect(made.status == 0)
        let server = try HelperProcess(ExternalTool.openssl.path!, [
            "s_server", "-accept", "0", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-cert", dir.file("c.pem"), "-key", dir.file("k.pem"), "-www",
        ]) { $0.hasPrefix("ACCEPT") }
        let port = try #require(server.line.split(separator: ":").last.map(String.init))
        // An OpenSSL configuration that allows TLS 1.0 and 1.1 (security level 0): only
        // certvault's own minimum can refuse the server now.
        let permissive = try dir.write("openssl.cnf", """
            openssl_conf = default_conf
            [default_conf]
            ssl_conf = ssl_section
            [ssl_section]
            system_default = system_default_section
            [system_default_section]
            MinProtocol = TLSv1
            CipherString = DEFAULT@SECLEVEL=0

            """)
        let password = try dir.write("pw", "x\n")
        let result = try CLI.run(["vb365", "check", "--url", "https://127.0.0.1:\(port)", "--user", "x", "--vb365-password-file", password,
                                  "--ca-file", dir.file("c.pem"), "--timeout", "5"], environment: ["OPENSSL_CONF": permissive])
        #expect(result.status == 1)
        #expect(result.stderr.contains("requires TLS 1.2 or later"), "\(result.stderr)")
    }

    @Test("plain HTTP to loopback never goes through http_proxy (or any proxy variable); check says no proxy")
    func loopbackBypassesProxy() throws {
        let proxy = try RecordingProxy()
        let simulator = try SimulatorProcess(["--plain-http"])
        let environment = ["http_proxy": proxy.url, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url, "all_proxy": proxy.url,
                           "ALL_PROXY": proxy.url, "no_proxy": "", "NO_PROXY": ""]
        let result = try CLI.run(["vb365", "check", "--url", simulator.url, "--user", "VB365\\admin", "--vb365-password-file", simulator.passwordFile,
                                  "--allow-plain-http-loopback"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(proxy.requests.isEmpty, "the proxy received: \(proxy.requests)")
        #expect(result.stdout.contains("proxy:          none"))
    }

    @Test("HTTPS to another host honours https_proxy as a CONNECT tunnel, and check says which proxy")
    func httpsHonoursProxy() throws {
        let simulator = try SimulatorProcess()
        let port = try #require(simulator.url.split(separator: ":").last.map(String.init))
        let proxy = try RecordingProxy(tunnelTo: Int(port))
        // vb365.invalid never resolves: only the proxy can reach it (it tunnels to the simulator).
        // The simulator's certificate names loopback only, hence no verification in this test.
        let result = try CLI.run(["vb365", "check", "--url", "https://vb365.invalid:\(port)", "--user", "VB365\\admin",
                                  "--vb365-password-file", simulator.passwordFile, "--insecure-skip-tls-verify"],
                                 environment: ["https_proxy": "http://user:secret@127.0.0.1:\(proxy.port)", "no_proxy": "", "NO_PROXY": ""])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(proxy.requests.first == "CONNECT vb365.invalid:\(port) HTTP/1.1", "\(proxy.requests)")
        #expect(result.stdout.contains("proxy:          http://127.0.0.1:\(proxy.port)"), "\(result.stdout)")
        #expect(!result.stdout.contains("secret"))
    }

    @Test("hints that say what to do: a timeout names --timeout, plain HTTP refused names --allow-plain-http-loopback, a version not served is not a wrong password")
    func hints() throws {
        let simulator = try SimulatorProcess(["--api-version", "v6"])
        let base = ["vb365", "check", "--url", simulator.url, "--user", "VB365\\admin", "--vb365-password-file", simulator.passwordFile]
        let v8 = try CLI.run(base + ["--ca-file", simulator.caFile, "--api-version", "v8"])
        #expect(v8.status == 1)
        #expect(!v8.stderr.contains("refused the password login"), "\(v8.stderr)")
        #expect(v8.stderr.contains("does not serve API v8"), "\(v8.stderr)")
        #expect(v8.stderr.contains("--api-version"))
        let plain = try CLI.run(base.map { $0 == simulator.url ? simulator.url.replacingOccurrences(of: "https://", with: "http://") : $0 })
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("--allow-plain-http-loopback"), "\(plain.stderr)")
        // A listener that accepts and never answers.
        let silent = try HelperProcess(ExternalTool.python3.path!, ["-c", """
            import socket, time
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4); print(s.getsockname()[1], flush=True)
            keep = []
            while True: keep.append(s.accept())
            """])
        let slow = try CLI.run(["vb365", "check", "--url", "https://127.0.0.1:\(silent.line)", "--user", "x", "--vb365-password-file",
                                simulator.passwordFile, "--timeout", "1", "--connect-timeout", "1"])
        #expect(slow.status == 1)
        #expect(slow.stderr.contains("--timeout"), "\(slow.stderr)")
    }
}

@Suite("docs/vb365-simulator.md names only options that exist")
struct VB365DocOptionsTests {
    @Test("every --option in docs/vb365-simulator.md is an option of vb365 check or vb365 simulate (or of the schema checker)")
    func documentedOptionsExist() throws {
        func options(_ text: String) -> Set<String> {
            let regex = try! NSRegularExpression(pattern: "--[a-z0-9][a-z0-9-]*")
            let range = NSRange(text.startIndex..., in: text)
            return Set(regex.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
        }
        let doc = try String(contentsOfFile: "\(TestEnvironment.packageRoot)/docs/vb365-simulator.md", encoding: .utf8)
        let check = try CLI.run(["vb365", "check", "--help"])
        let simulate = try CLI.run(["vb365", "simulate", "--help"])
        let known = options(check.stdout + simulate.stdout).union(["--exchanges", "--spec", "--strict-access", "--help"])
        let unknown = options(doc).subtracting(known)
        #expect(unknown.isEmpty, "documented but not options: \(unknown.sorted())")
        #expect(options(doc).contains("--windows-server2016"))
    }
}

@Suite("copies of the VB365 password and a PFX password in this process's memory", .serialized)
struct VB365SecretCopiesTests {
    /// 32 random bytes as 64 hex digits, made in secure memory: the text exists nowhere else.
    static func randomHexSecret() -> SecretBytes {
        let random = SecretBytes.random(count: 32)
        let hex = Array("0123456789abcdef".utf8)
        return SecretBytes(count: 64) { target in
            random.withUnsafeBytes { bytes in
                for (index, byte) in bytes.enumerated() {
                    target[2 * index] = hex[Int(byte >> 4)]
                    target[2 * index + 1] = hex[Int(byte & 0xF)]
                }
            }
        }
    }

    /// Copies of `secret` in this process outside its own secure buffer.
    static func copies(of secret: SecretBytes) -> Int {
        var pattern = [UInt8](repeating: 0, count: secret.count)
        secret.withUnsafeBytes { raw in for index in raw.indices { pattern[index] = raw[index] } }
        defer { SecureWipe.wipe(&pattern) }
        let excluded: Set<UInt> = [secret.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }, pattern.withUnsafeBytes { UInt(bitPattern: $0.baseAddress!) }]
        return ProcessMemory.count(pattern, excluding: excluded)
    }

    @Test("after a login and a POST Organizations over TLS, no copy of either password is left outside secure memory")
    func noCopies() throws {
        let password = Self.randomHexSecret()
        let pfxPassword = Self.randomHexSecret()
        // The server is another process (the simulator keeps what it receives in ordinary memory).
        let simulator = try SimulatorProcess(["--sign-in-after", "0"], password: password)
        #expect(Self.copies(of: password) == 0 && Self.copies(of: pfxPassword) == 0, "before any request")
        do {
            let client = try VB365Client(configuration: .init(serverURL: simulator.url, username: "VB365\\admin",
                                                              http: .init(trust: .caFile(simulator.caFile), connectTimeout: 5, totalTimeout: 10),
                                                              retry: .none),
                                         password: password, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
            try client.logIn()
            let code = try client.createDeviceCode(region: .worldwide)
            Thread.sleep(forTimeInterval: 0.3)
            // Not a PFX: VB365 refuses it, but the body with the password has gone out.
            let body = VB365Organization.newOffice365(officeName: "copies.onmicrosoft.com", region: .worldwide, userCode: code.userCode,
                                                      applicationName: "copies", certificateBase64: "TUlJ", password: pfxPassword)
            let refused = try #require(throws: VB365Error.self) { try client.addOrganization(body) }
            #expect(refused.status == 400)
            #expect(Self.copies(of: password) == 0, "copies of the VB365 password while the client lives")
            #expect(Self.copies(of: pfxPassword) == 0, "copies of the PFX password while the client lives")
        }
        #expect(Self.copies(of: password) == 0, "copies of the VB365 password after the client is gone")
        #expect(Self.copies(of: pfxPassword) == 0, "copies of the PFX password after the client is gone")
    }
}
