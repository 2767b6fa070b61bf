import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import CertVaultPolicy
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging

/// `certvault vb365 ...`: talk to a VB365 REST server, or run the simulator.
struct VB365Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vb365",
        abstract: "Check a connection to Veeam Backup for Microsoft 365, or run its simulator.",
        subcommands: [VB365CheckCommand.self, VB365SimulateCommand.self]
    )
}

/// `certvault vb365 check`: log in, print the version and the organizations count.
struct VB365CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Log in to a VB365 REST server and print its API version, product version and organizations count.",
        discussion: """
            Example: certvault vb365 check --url https://vb365.example:4443 --user 'CORP\\svc-vb365' \
            --ca-file vb365-ca.pem --vb365-password-file ~/.vb365-password, or with the connection in a \
            configuration file: certvault vb365 check --config /etc/certvault/certvault.toml
            """
    )

    @OptionGroup var file: ConfigurationFileOptions
    @OptionGroup var connection: VB365ConnectionOptions
    @Flag(name: .long, help: "Print the result as JSON.") var json = false
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("certvault.vb365")
        let client = try connection.makeClient(logger: logger, configuration: try file.load())
        struct Report: Encodable {
            let url: String
            let apiVersion: String
            let serverVersion: String?
            let installationId: String?
            let organizations: Int
            /// The proxy in use (https_proxy/all_proxy), without credentials; nil for none.
            let proxy: String?
        }
        do {
            let report = try await client.perform { client in
                let version = try client.apiVersion()
                let instance = try client.serviceInstance()
                let organizations = try client.organizations()
                return Report(url: client.configuration.serverURL, apiVersion: version.rawValue, serverVersion: instance.version,
                              installationId: instance.installationId, organizations: organizations.count, proxy: client.proxy)
            }
            if json {
                Terminal.out(try Terminal.json(report) + "\n")
            } else {
                Terminal.out("""
                    Connected to \(report.url)
                      REST API:       \(report.apiVersion)
                      server version: \(report.serverVersion ?? "not reported")
                      organizations:  \(report.organizations)
                      proxy:          \(report.proxy.map { "\($0) (from https_proxy/all_proxy; TLS runs through it to the server)" } ?? "none")

                    """)
            }
        } catch let error as VB365Error {
            throw error.error
        }
    }
}

/// `certvault vb365 simulate`: a VB365 REST simulator on loopback, for tests and demos.
struct VB365SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a VB365 REST API simulator (v6, v7 or v8) on loopback, over TLS with a certificate certvault makes.",
        discussion: """
            Prints the URL, the CA file and public-key pin that clients trust it by, and where the \
            account's password is. The customer's sign-in is simulated with --sign-in-after or through \
            the control surface (POST /_simulator/sign-in); see docs/vb365-simulator.md. Stops on Ctrl-C \
            or SIGTERM.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The API version to serve: v6, v7 or v8.", valueName: "version"))
    var apiVersion: String = "v8"

    @Option(name: .long, help: ArgumentHelp("The loopback address to listen on.", valueName: "address"))
    var host: String = "127.0.0.1"

    @Option(name: .long, help: ArgumentHelp("The port (0: any free port; VB365's own default is 4443).", valueName: "port"))
    var port: Int = 4443

    @Flag(name: .long, help: "Serve plain HTTP instead of TLS (clients then need --allow-plain-http-loopback).")
    var plainHTTP = false

    @Option(name: .long, help: ArgumentHelp("The account clients log in with.", valueName: "name"))
    var user: String = "VB365\\admin"

    @Option(name: .long, help: ArgumentHelp("Folder for the CA file and the generated password (0700).", valueName: "dir"))
    var stateDir: String = "keys/vb365-simulator"

    @Option(name: .long, help: ArgumentHelp("Access-token lifetime in seconds.", valueName: "seconds"))
    var tokenLifetime: Int = 3600

    @Option(name: .long, help: ArgumentHelp("Device-code lifetime in seconds.", valueName: "seconds"))
    var deviceCodeLifetime: Int = 900

    @Option(name: .long, help: ArgumentHelp("Play the customer: count each new device code as signed in after this many seconds.", valueName: "seconds"))
    var signInAfter: Double?

    @Flag(name: .long, help: "Refuse AES-encrypted PFX files as Windows Server 2016 does.")
    var windowsServer2016 = false

    @Option(name: .long, help: ArgumentHelp("Keep organizations in this JSON file across restarts.", valueName: "path"))
    var store: String?

    @Option(name: .long, help: ArgumentHelp("When ready, write the connection facts as JSON to this new file.", valueName: "path"))
    var readyFile: String?

    @Flag(name: .long, help: "Print the connection facts as JSON.") var json = false

    func validate() throws {
        guard VB365APIVersion(rawValue: apiVersion.lowercased()) != nil else { throw ValidationError("--api-version must be v6, v7 or v8.") }
        guard host == "127.0.0.1" || host == "::1" || host.hasPrefix("127.") else {
            throw ValidationError("The simulator listens on loopback only (127.0.0.1 or ::1): its control surface has no authentication.")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535.") }
        guard tokenLifetime > 0, deviceCodeLifetime > 0 else { throw ValidationError("Lifetimes must be positive.") }
    }

    struct Facts: Encodable {
        let url: String
        let apiVersion: String
        let caFile: String?
        let pin: String?
        let user: String
        let passwordFile: String
        let control: String
    }

    func run() async throws {
        try PrivateFiles.makePrivateDirectory(stateDir)
        let passwordFile = "\(stateDir)/password"
        let password: SecretBytes
        if FileManager.default.fileExists(atPath: passwordFile) {
            password = try SecretSource.file(passwordFile).read()
        } else {
            password = PasswordFactory.generate(IssuancePolicy.PasswordRules(length: 24, allowSupplied: false, minimumSuppliedLength: 0))
            try PrivateFiles.writeNewFileAtomically(passwordFile, secret: password)
        }
        let version = VB365APIVersion(rawValue: apiVersion.lowercased())!
        let configuration = VB365Simulator.Configuration(
            version: version, users: [user: password.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }],
            tokenLifetime: tokenLifetime, deviceCodeLifetime: deviceCodeLifetime, signInAfter: signInAfter,
            windowsServer2016: windowsServer2016, storeFile: store)
        let simulator = try VB365Simulator(configuration: configuration, host: host, port: port, tls: !plainHTTP)
        var caFile: String?
        if let identity = simulator.identity {
            let path = "\(stateDir)/ca.pem"
            unlink(path)  // a new certificate every run
            try PrivateFiles.writeNewFileAtomically(path, bytes: Array(identity.certificatePEM.utf8))
            caFile = path
        }
        try simulator.start()
        let facts = Facts(url: simulator.baseURL, apiVersion: version.rawValue, caFile: caFile, pin: simulator.identity?.publicKeyPin,
                          user: user, passwordFile: passwordFile, control: simulator.baseURL + "/_simulator/")
        if let readyFile { try PrivateFiles.writeNewFileAtomically(readyFile, bytes: Array((try Terminal.json(facts) + "\n").utf8)) }
        if json {
            Terminal.out(try Terminal.json(facts) + "\n")
        } else {
            Terminal.out("""
                VB365 simulator (API \(version.rawValue)) listening on \(facts.url)
                  CA file:  \(caFile ?? "none (plain HTTP)")
                  pin:      \(facts.pin ?? "none")
                  user:     \(user)
                  password: in \(passwordFile) (0600)
                  control:  \(facts.control) (sign-in, faults, requests; docs/vb365-simulator.md)
                Stop with Ctrl-C.

                """)
        }
        await Self.waitForTermination()
        simulator.stop()
        if let readyFile { unlink(readyFile) }
    }

    /// Returns on SIGINT or SIGTERM.
    static func waitForTermination() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "certvault.signals")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = NSLock()
            nonisolated(unsafe) var resumed = false
            var sources: [any DispatchSourceSignal] = []
            for signalNumber in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler {
                    let first = once.withLock { () -> Bool in
                        defer { resumed = true }
                        return !resumed
                    }
                    if first { continuation.resume() }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var kept: [any DispatchSourceSignal] = []
    static func keep(_ sources: [any DispatchSourceSignal]) { kept += sources }
}
