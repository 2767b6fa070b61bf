import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging

/// A simulator on loopback over TLS and a client that trusts it by CA file.
final class Harness: @unchecked Sendable {
    static let user = "VB365\\operator"
    static let password = "S1mulated p@ss&word=+%"

    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let caFile: String

    init(_ version: VB365APIVersion = .v8, _ change: (inout VB365Simulator.Configuration) -> Void = { _ in }) throws {
        var configuration = VB365Simulator.Configuration(version: version, users: [Self.user: Self.password])
        change(&configuration)
        simulator = try VB365Simulator(configuration: configuration)
        try simulator.start()
        dir = try TemporaryDirectory()
        caFile = try dir.write("simulator-ca.pem", simulator.identity!.certificatePEM)
    }

    deinit { simulator.stop() }

    func client(version: VB365APIVersion? = nil, trust: HTTPTrust? = nil, password: String = Harness.password,
                logger: Logger = Fixtures.logger, _ change: (inout VB365Client.Configuration) -> Void = { _ in }) throws -> VB365Client {
        var configuration = VB365Client.Configuration(serverURL: simulator.baseURL, version: version, username: Self.user,
                                                      http: .init(trust: trust ?? .caFile(caFile), connectTimeout: 5, totalTimeout: 10),
                                                      retry: .init(maximumAttempts: 3, baseDelay: 0.01, maximumDelay: 0.05))
        change(&configuration)
        return try VB365Client(configuration: configuration, password: Fixtures.secret(password), logger: logger)
    }

    /// A signed-in device code, the customer's step done.
    func signedInCode(_ client: VB365Client, region: VB365Region = .worldwide) throws -> String {
        let code = try client.createDeviceCode(region: region)
        simulator.signIn(userCode: code.userCode)
        return code.userCode
    }

    /// Exchanges recorded for an endpoint shape such as `POST Organizations`.
    func count(_ method: String, _ suffix: String) -> Int {
        simulator.received().filter { $0.method == method && $0.path.split(separator: "?")[0].lowercased().hasSuffix(suffix.lowercased()) }.count
    }
}

enum Fixtures {
    static let logger = Logger(label: "certvault.tests") { _ in SwiftLogNoOpLogHandler() }

    static func secret(_ text: String) -> SecretBytes { Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) } }

    static func policy(_ change: (inout IssuancePolicy) -> Void = { _ in }) throws -> IssuancePolicy {
        var policy = try PolicyLoader.load(path: TestEnvironment.policy("default"))
        change(&policy)
        return policy
    }

    static func credential(_ tenant: String = "contoso", profile: IssuancePolicy.PKCS12Profile = .compat) throws -> IssuedCredential {
        let policy = try policy { $0.pkcs12.profile = profile }
        return try Issuer(policy: policy, logger: logger).issue(IssuanceRequest(tenant: try TenantID(tenant), org: tenant.capitalized))
    }

    static func organization(_ officeName: String, code: String, credential: IssuedCredential, region: VB365Region = .worldwide) -> VB365Organization {
        VB365Organization.newOffice365(officeName: officeName, region: region, userCode: code, applicationName: "certvault \(officeName)",
                                       certificateBase64: credential.pfxBase64, password: credential.password)
    }
}

/// Captures log lines, to check what is (and is not) logged.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    let lock = NSLock()
    private(set) var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.withLock { lines.append("\(event.level): \(event.message)") }
    }
}
