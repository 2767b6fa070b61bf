import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultServer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import CertVaultVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// Tokens for the tests, made in the real token store of the test's vault (`certvault token create`
/// does the same), including expired and revoked ones.
final class TestTokens: @unchecked Sendable {
    // Safety: `counter` is read and written under `lock` only; the store is Sendable.
    let store: TokenStore
    private let lock = NSLock()
    private var counter = 0

    init(store: TokenStore) { self.store = store }

    /// Creates a token and returns its text: with `scopes` and `tenants`, or bound to an access `policy`.
    @discardableResult
    func add(
        scopes: Set<Scope> = [], tenants: [String]? = nil, policy: String? = nil, expired: Bool = false,
        revoked: Bool = false
    ) throws -> String {
        let number = lock.withLock {
            counter += 1
            return counter
        }
        let now = UTCTime.now()
        // An expired token: made a day ago, valid for an hour.
        let issued = try store.create(
            name: "test \(number)", scopes: policy == nil ? scopes : [],
            tenants: try tenants.map { try TenantSelector($0) }, policy: policy,
            expires: expired ? now - 86_400 + 3_600 : nil, now: expired ? now - 86_400 : now)
        if revoked { _ = try store.revoke(accessor: issued.info.accessor) }
        return issued.token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// The accessor of a token text (`cvt_<accessor>_<secret>`).
    static func accessor(of token: String) -> String { String(token.split(separator: "_")[1]) }
}

/// A vault in a temporary folder, an onboarding folder, the VB365 simulator over TLS, and the
/// service's dependencies made from them, as `certvault serve` makes them from its configuration.
final class APIWorld: @unchecked Sendable {
    static let user = "VB365\\operator"
    static let password = "api-test-password"
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let tokens: TestTokens
    let services: AppServices
    let onboarding: Onboarding
    /// How often the routes told the worker that an onboarding started or got a new code.
    let workerWakes = WakeCounter()

    init(maxBody: Int = 1 << 20, readinessCache: Double = 5) throws {
        simulator = try VB365Simulator(configuration: .init(version: .v8, users: [Self.user: Self.password]))
        try simulator.start()
        dir = try TemporaryDirectory()
        let caFile = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        let keyFile = dir.file("key/root.key")
        _ = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: keyFile))
        try FileManager.default.createDirectory(atPath: dir.file("policy"), withIntermediateDirectories: true)
        // A policy by name, as the service's policy folder holds them.
        let text = try String(contentsOfFile: TestEnvironment.policy("default"), encoding: .utf8)
        try dir.write("policy/fast.toml", text.replacingOccurrences(of: "name = \"default\"", with: "name = \"fast\""))

        var configuration = ServiceConfiguration()
        configuration.vault = .init(path: dir.file("vault"), unlock: .keyFile(keyFile))
        configuration.policyFolder = dir.file("policy")
        configuration.maxRequestBodyBytes = maxBody
        let work = BlockingWork(threads: 2)
        let client = try VB365Client(
            configuration: .init(
                serverURL: simulator.baseURL, username: Self.user,
                http: .init(trust: .caFile(caFile), connectTimeout: 5, totalTimeout: 10),
                retry: .init(maximumAttempts: 2, baseDelay: 0.01, maximumDelay: 0.05)),
            password: Array(Self.password.utf8).withUnsafeBytes { SecretBytes(copying: $0) }, logger: Self.logger)
        let store = try OnboardingStore(folder: dir.file("onboarding"))
        onboarding = Onboarding(
            client: client, vault: try Self.openVault(dir), store: store,
            issuer: Issuer(policy: try PolicyLoader.builtInDefault(), logger: Self.logger), logger: Self.logger)
        onboarding.pollInterval = 0.1
        let probe = ReadinessProbe(vb365: { _ = try client.serviceInstance() }, cacheSeconds: readinessCache)
        try FileManager.default.createDirectory(atPath: dir.file("policy/access"), withIntermediateDirectories: true)
        try dir.write("policy/access/eu-readers.toml", "name = \"eu-readers\"\nscopes = [\"tenants:read\"]\ntenants = [\"eu-*\"]\n")
        tokens = TestTokens(
            store: try TokenStore(
                vault: try Self.openVault(dir), path: dir.file("vault/tokens"),
                policies: try AccessPolicySet.load(folder: dir.file("policy/access"))))
        // Two handles, as the service opens several: calls run side by side and coordinate by the vault's lock.
        let vault = VaultService(handles: [try Self.openVault(dir), try Self.openVault(dir)], work: work)
        var services = AppServices(
            configuration: configuration, work: work, vault: vault,
            tokens: tokens.store, onboardingStore: store, onboarding: onboarding, readiness: probe,
            invitations: try InvitationStore(path: InvitationStore.defaultPath(vault: dir.file("vault")), vault: try Self.openVault(dir)))
        let wakes = workerWakes
        services.onboardingChanged = { wakes.add() }
        self.services = services
    }

    deinit {
        simulator.stop()
        let work = services.work
        Task { try? await work.shutdown() }
    }

    static func openVault(_ dir: TemporaryDirectory) throws -> Vault {
        try Vault.open(at: dir.file("vault"), unlock: .keyFile(path: dir.file("key/root.key")))
    }

    func vault() throws -> Vault { try Self.openVault(dir) }

    /// Stores a freshly issued generation for `tenant` (straight into the vault, as `certvault issue` does).
    @discardableResult
    func issue(_ tenant: String) throws -> Int {
        let issuer = Issuer(policy: try PolicyLoader.builtInDefault(), logger: Self.logger)
        let credential = try issuer.issue(IssuanceRequest(tenant: try TenantID(tenant)))
        return try vault().store(tenant: try TenantID(tenant), payload: EntryPayload(credential))
    }

    /// Onboards `tenant` through the library workflow against the simulator.
    func onboard(_ tenant: String) throws {
        let intake = OnboardingRecord.Intake(
            tenant: try TenantID(tenant), displayName: tenant.capitalized,
            officeName: "\(tenant).onmicrosoft.com")
        let started = try onboarding.startIssuingMeanwhile(intake)
        _ = simulator.signIn(userCode: try #require(started.userCode))
        let done = try onboarding.resume(try TenantID(tenant))
        #expect(done.state == .onboarded)
    }

    /// The application under test (no socket).
    func app(logger: Logger = APIWorld.logger) -> some ApplicationProtocol {
        Application(router: buildRouter(services: services, logger: logger), logger: logger)
    }

    /// Every file below the vault and onboarding folders with its size (to prove nothing was written).
    func snapshot() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for folder in ["vault", "onboarding"] {
            for name in FileManager.default.subpaths(atPath: dir.file(folder)) ?? [] where !name.hasSuffix(".lock") {
                let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("\(folder)/\(name)"))
                result["\(folder)/\(name)"] = (attributes[.size] as? Int) ?? -1
            }
        }
        return result
    }
}

/// Request helpers.
extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
        contentType: String? = "application/json"
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil, let contentType { headers[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    /// The body as a JSON object (empty when it is not one).
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data([UInt8](buffer: body)))) as? [String: Any] ?? [:]
    }

    /// The problem code of an error response.
    var code: String? { object["code"] as? String }
}

/// Counts calls from any thread.
final class WakeCounter: Sendable {
    private let count = Mutex<Int>(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
