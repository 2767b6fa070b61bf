import CertVaultCore
import CertVaultHTTP
import CertVaultOnboarding
import CertVaultServer
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `certvault demo`'s service: `certvault serve` run as a child process of the demo, with a
/// configuration file written for the run, found through its ready file, stopped with SIGTERM.
final class DemoService: @unchecked Sendable {
    private let process: Process
    let readyFile: String
    let logFile: String

    private init(process: Process, readyFile: String, logFile: String) {
        self.process = process
        self.readyFile = readyFile
        self.logFile = logFile
    }

    /// The configuration file of the demo's service (docs/configuration.md): loopback, any free
    /// port, a self-signed certificate, the run's vault and the simulator.
    static func configuration(vault: String, keyFile: String, vb365: String, user: String, passwordFile: String, caFile: String,
                              stateDir: String, policy: String?) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return """
            # certvault demo: the service of this run (certvault serve --config THIS_FILE)
            [listen]
            host = "127.0.0.1"
            port = 0
            [tls]
            mode = "self-signed"
            [vault]
            path = \(quoted(vault))
            key_file = \(quoted(keyFile))
            [vb365]
            url = \(quoted(vb365))
            user = \(quoted(user))
            password_file = \(quoted(passwordFile))
            ca_file = \(quoted(caFile))
            [onboarding]
            state_dir = \(quoted(stateDir))
            poll_interval = 1
            \(policy.map { "policy = \(quoted($0))\n" } ?? "")[limits]
            shutdown_grace_seconds = 10

            """
    }

    /// Starts `certvault serve --config FILE` (this very program) with the demo's configuration
    /// alone: `CERTVAULT_*` variables of the caller's shell would override it, so they are left out.
    static func start(configFile: String, run: String) throws -> DemoService {
        let readyFile = "\(run)/serve-ready.json"
        let logFile = "\(run)/serve.log"
        FileManager.default.createFile(atPath: logFile, contents: nil, attributes: [.posixPermissions: 0o600])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try selfPath())
        process.arguments = ["serve", "--config", configFile, "--ready-file", readyFile]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CERTVAULT_") }
        let log = FileHandle(forWritingAtPath: logFile)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CertVaultError(.fileSystem, "Cannot start 'certvault serve' for the demo.", underlying: "\(error)")
        }
        return DemoService(process: process, readyFile: readyFile, logFile: logFile)
    }

    /// This program's path (`/proc/self/exe`), so the child is the same build however the demo was run.
    private static func selfPath() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else {
            return CommandLine.arguments[0]
        }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Waits for the ready file; throws with the service's log when it ended first.
    func waitUntilReady(seconds: Double = 120) throws -> ServiceReady {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let ready = try? ServiceReady.read(from: readyFile) { return ready }
            try checkRunning()
            usleep(50_000)
        }
        throw CertVaultError(.fileSystem, "'certvault serve' did not start listening within \(Int(seconds)) s.", hint: "See its log: \(logFile).")
    }

    func checkRunning() throws {
        guard process.isRunning else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw CertVaultError(.onboardingState, "'certvault serve' ended (status \(process.terminationStatus)).",
                                 hint: "Its log (\(logFile)) ends with: \(DisplayText.escapingControls(String(log.suffix(600))))")
        }
    }

    /// SIGTERM, then waits for the graceful stop (SIGKILL after 30 s).
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until the service's worker has carried the tenant past the customer's sign-in.
    static func waitForWorker(store: OnboardingStore, tenant: TenantID, service: DemoService, seconds: Double) throws -> OnboardingRecord {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let record = try store.load(tenant), record.state != .awaitingCustomer && record.state != .addingOrganization {
                return record
            }
            try service.checkRunning()
            guard Date() < deadline else {
                throw CertVaultError(.onboardingState, "The service's worker did not finish the onboarding within \(Int(seconds)) s.",
                                     hint: "See the service's log: \(service.logFile).")
            }
            usleep(200_000)
        }
    }
}

/// The demo's HTTPS client of the service: trusts exactly the self-signed certificate the service
/// wrote at start, and pins its public key.
struct DemoAPI: Sendable {
    let ready: ServiceReady
    private let client: HTTPClientBox

    init(ready: ServiceReady, logger: Logger) throws {
        self.ready = ready
        let trust: HTTPTrust = ready.publicKeyPin.map { .pinnedPublicKey($0, caFile: ready.certificateFile) } ?? .systemStore
        client = HTTPClientBox(try HTTPClient(configuration: .init(trust: trust, connectTimeout: 5, totalTimeout: 30,
                                                                  userAgent: "certvault-demo/\(CertVault.version)"), logger: logger))
    }

    /// `GET PATH`, with the bearer token when there is one.
    func get(_ path: String, token: SecretBytes? = nil) throws -> HTTPResponse {
        try client.send(HTTPRequest(method: "GET", url: ready.url + path, headers: []))
    }
}

/// The libcurl client is not Sendable; the demo uses it from one task at a time.
final class HTTPClientBox: @unchecked Sendable {
    private let client: HTTPClient
    private let lock = NSLock()

    init(_ client: HTTPClient) { self.client = client }

    func send(_ request: HTTPRequest) throws -> HTTPResponse { try lock.withLock { try client.send(request) } }
}
