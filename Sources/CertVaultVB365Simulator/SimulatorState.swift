internal import CertVaultCore
internal import CertVaultVB365
internal import Foundation

/// Everything the simulated VB365 server knows, behind one lock: tokens, device codes,
/// organizations (kept in the store file when one is configured), the faults and delays the
/// control surface asked for, and the exchanges recorded. The controllers, the middleware and
/// the Swift control surface all work on it; nothing here knows HTTP.
final class SimulatorState: @unchecked Sendable {
    /// The mutable part, changed only inside ``withStorage(_:)``.
    struct Storage {
        var accessTokens: [String: IssuedAccessToken] = [:]
        var refreshTokens: [String: String] = [:]
        var deviceCodes: [String: SimulatedDeviceCode] = [:]
        /// By lower-case id.
        var organizations: [String: StoredOrganization] = [:]
        /// Organization ids in the order they were added.
        var order: [String] = []
        /// By lower-case endpoint name (`post organizations`, `*`).
        var faults: [String: [Fault]] = [:]
        var delays: [String: Double] = [:]
        var exchanges: [SimulatorExchange] = []
    }

    let configuration: VB365Simulator.Configuration
    let errors: RESTErrors
    let installationId = UUID().uuidString.lowercased()
    private let lock = NSLock()
    private var storage = Storage()

    /// Loads the store file, if one is configured and exists.
    init(configuration: VB365Simulator.Configuration) throws {
        self.configuration = configuration
        errors = RESTErrors(version: configuration.version)
        if let path = configuration.storeFile {
            for item in try Self.loadStore(path) {
                guard let id = item.organization.id else { continue }
                storage.organizations[id] = item
                storage.order.append(id)
            }
        }
    }

    var version: VB365APIVersion { configuration.version }

    func withStorage<T, Failure: Error>(_ body: (inout Storage) throws(Failure) -> T) throws(Failure) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&storage)
    }

    // MARK: Faults, delays, exchanges

    func addFault(_ endpoint: String, _ fault: Fault) {
        withStorage { $0.faults[Self.normalize(endpoint), default: []].append(fault) }
    }

    /// Takes the next fault planned for this endpoint (or for `*`), if any.
    func takeFault(for endpoint: String) -> Fault.Kind? {
        withStorage { storage in
            for key in [Self.normalize(endpoint), "*"] {
                guard var list = storage.faults[key], !list.isEmpty else { continue }
                let kind = list[0].kind
                list[0].remaining -= 1
                if list[0].remaining <= 0 { list.removeFirst() }
                storage.faults[key] = list
                return kind
            }
            return nil
        }
    }

    func setDelay(_ endpoint: String, seconds: Double) {
        withStorage { $0.delays[Self.normalize(endpoint)] = seconds > 0 ? seconds : nil }
    }

    /// Seconds every answer of this endpoint waits (its own delay, else the one for `*`).
    func delay(for endpoint: String) -> Double {
        withStorage { $0.delays[Self.normalize(endpoint)] ?? $0.delays["*"] } ?? 0
    }

    func record(_ exchange: SimulatorExchange) {
        withStorage { $0.exchanges.append(exchange) }
    }

    static func normalize(_ endpoint: String) -> String { endpoint.lowercased() }

    // MARK: Tokens

    /// Checks a bearer token as VB365 does: known, not expired, and with the antiforgery header
    /// when its login asked for one. Nil when the caller may go on.
    func authenticate(authorization: String?, antiforgeryHeader: String?) -> VB365Answer? {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return errors.unauthorized() }
        let presented = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let token = withStorage({ $0.accessTokens[presented] }) else { return errors.unauthorized() }
        guard token.expiresAt > Date() else { return errors.unauthorized("The access token has expired.") }
        if token.needsAntiforgery && antiforgeryHeader == nil {
            return errors.unauthorized(
                "The antiforgery token is missing; send disable_antiforgery_token=true when logging in from a non-browser client.")
        }
        return nil
    }

    /// Makes every access token issued so far expire now.
    func expireTokens() {
        withStorage { storage in
            for key in storage.accessTokens.keys { storage.accessTokens[key]!.expiresAt = .distantPast }
        }
    }

    // MARK: Device codes

    /// The customer's step: marks a user code as signed in. False when the code is unknown.
    func signIn(userCode: String) -> Bool {
        withStorage { storage in
            guard storage.deviceCodes[userCode] != nil else { return false }
            storage.deviceCodes[userCode]!.signedIn = true
            return true
        }
    }

    /// Makes every device code handed out so far expire now.
    func expireDeviceCodes() {
        withStorage { storage in
            for key in storage.deviceCodes.keys { storage.deviceCodes[key]!.expiresAt = .distantPast }
        }
    }

    // MARK: Changes behind the client's back (drift)

    /// Sets the thumbprint the organization reports. False when it is unknown.
    func replaceThumbprint(organizationId: String, with thumbprint: String) -> Bool {
        withStorage { storage in
            let id = organizationId.lowercased()
            guard var stored = storage.organizations[id] else { return false }
            stored.thumbprint = thumbprint
            for keyPath in [\VB365Organization.exchangeOnlineSettings, \VB365Organization.sharePointOnlineSettings] {
                stored.organization[keyPath: keyPath]?.applicationCertificateThumbprint = thumbprint
            }
            storage.organizations[id] = stored
            saveStore(storage)
            return true
        }
    }

    /// Removes the organization. False when it is unknown.
    func deleteOrganization(id: String) -> Bool {
        withStorage { storage in
            let key = id.lowercased()
            guard storage.organizations.removeValue(forKey: key) != nil else { return false }
            storage.order.removeAll { $0 == key }
            saveStore(storage)
            return true
        }
    }

    // MARK: Store file

    /// Writes the organizations to the store file, if one is configured (under the lock).
    func saveStore(_ storage: Storage) {
        guard let path = configuration.storeFile else { return }
        let list = storage.order.compactMap { storage.organizations[$0] }
        guard let data = try? JSONEncoder().encode(list) else { return }
        let temporary = path + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) {
            _ = rename(temporary, path)
        }
    }

    private static func loadStore(_ path: String) throws -> [StoredOrganization] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            return try JSONDecoder().decode([StoredOrganization].self, from: data)
        } catch {
            throw CertVaultError(.invalidInput, "The simulator's store file '\(path)' is not valid.", hint: "Move it away to start with no organizations.")
        }
    }
}
