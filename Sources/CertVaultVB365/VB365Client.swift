public import CertVaultCore
public import CertVaultHTTP
public import Logging
internal import Foundation

/// A client of the VB365 REST API (v6, v7, v8) for the calls onboarding makes.
///
/// Thread-safe: calls may come from several threads at once; each takes an HTTP handle (a
/// libcurl easy handle with its keep-alive connection) from a small pool. Calls block; from
/// async code use ``perform(_:)``, which runs them on threads of the client's own, off Swift's
/// cooperative pool.
public final class VB365Client: @unchecked Sendable {
    /// How to reach and log in to a server.
    public struct Configuration: Sendable {
        /// `https://HOST:4443`; a trailing `/` or `/vN` is ignored.
        public var serverURL: String
        /// The API version; nil detects it (newest first).
        public var version: VB365APIVersion?
        /// The VB365 account, often `DOMAIN\user`.
        public var username: String
        /// TLS trust, timeouts and limits.
        public var http: HTTPClient.Configuration
        /// Retries with backoff.
        public var retry: RetryPolicy
        /// Refresh the access token this many seconds before it expires.
        public var refreshMargin: Double

        public init(serverURL: String, version: VB365APIVersion? = nil, username: String,
                    http: HTTPClient.Configuration = .init(), retry: RetryPolicy = .init(), refreshMargin: Double = 60) {
            self.serverURL = serverURL
            self.version = version
            self.username = username
            self.http = http
            self.retry = retry
            self.refreshMargin = refreshMargin
        }
    }

    /// Retries with exponential backoff and full jitter.
    public struct RetryPolicy: Sendable {
        /// Attempts in all, the first included.
        public var maximumAttempts: Int
        /// The first backoff, in seconds; each further one doubles, up to ``maximumDelay``.
        public var baseDelay: Double
        public var maximumDelay: Double

        public init(maximumAttempts: Int = 4, baseDelay: Double = 0.5, maximumDelay: Double = 8) {
            self.maximumAttempts = max(1, maximumAttempts)
            self.baseDelay = baseDelay
            self.maximumDelay = maximumDelay
        }

        /// Never retry.
        public static let none = RetryPolicy(maximumAttempts: 1)

        func delay(beforeAttempt attempt: Int) -> Double {
            let ceiling = min(maximumDelay, baseDelay * pow(2, Double(attempt - 2)))
            return Double.random(in: 0...max(ceiling, 0))
        }
    }

    /// Which failures a call may be repeated after.
    enum Repeat {
        /// Reads and calls that change nothing twice (GET, PUT, DeviceCode/check, token):
        /// connection failures, timeouts, 429 and 5xx.
        case idempotent
        /// Calls whose repetition is harmless but not identical (a new device code): only when
        /// nothing was sent (connection refused), or on 429/502/503/504 (never processed).
        case whenUnprocessed
        /// `POST Organizations`: never repeated blindly; the caller looks the organization up.
        case never
    }

    public let configuration: Configuration
    private let baseURL: String
    private let password: SecretBytes
    private let logger: Logger
    private let lock = NSLock()
    private var idle: [HTTPClient] = []
    private var detectedVersion: VB365APIVersion?
    private var token: Token?
    private static let queue = DispatchQueue(label: "certvault.vb365.blocking", attributes: .concurrent)

    private struct Token {
        var access: String
        var refresh: String
        var expiresAt: Date
    }

    /// Creates a client; nothing is sent until the first call.
    ///
    /// - Parameter password: the VB365 account's password, from a file, fd, stdin or the
    ///   environment; it stays in secure memory and is only ever written into the token request.
    public init(configuration: Configuration, password: SecretBytes, logger: Logger) throws {
        var base = configuration.serverURL
        while base.hasSuffix("/") { base.removeLast() }
        if let last = base.split(separator: "/").last, VB365APIVersion(rawValue: last.lowercased()) != nil {
            base.removeLast(last.count + 1)
        }
        guard base.lowercased().hasPrefix("https://") || base.lowercased().hasPrefix("http://") else {
            throw CertVaultError(.httpURL, "'\(configuration.serverURL)' is not a VB365 server URL.",
                                 hint: "Give it as https://HOST:4443 (4443 is VB365's default REST port).")
        }
        self.configuration = configuration
        self.baseURL = base
        self.password = password
        self.logger = logger
        self.detectedVersion = configuration.version
        give(try takeHTTP())  // fails early on libcurl trouble
    }

    /// Runs blocking calls on the client's own threads, off Swift's cooperative pool.
    public func perform<Result: Sendable>(_ body: @escaping @Sendable (VB365Client) throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                continuation.resume(with: Swift.Result { try body(self) })
            }
        }
    }

    // MARK: Version

    /// The API version in use: configured, or detected by an unauthenticated
    /// `GET /vN/ServiceInstance` (401 where the version is served, 404 where not).
    public func apiVersion() throws -> VB365APIVersion {
        if let version = lock.withLock({ detectedVersion }) { return version }
        for candidate in VB365APIVersion.newestFirst {
            let response = try exchange(HTTPRequest(url: url(candidate, "ServiceInstance")), repeat: .idempotent, what: "probe \(candidate.rawValue)")
            switch response.status {
            case 200, 401:
                lock.withLock { detectedVersion = candidate }
                logger.info("VB365 serves API \(candidate.rawValue)")
                return candidate
            case 404:
                continue
            default:
                throw failure(response, call: "GET /\(candidate.rawValue)/ServiceInstance")
            }
        }
        throw VB365Error(CertVaultError(.vb365Version, "\(baseURL) serves none of the API versions v8, v7, v6.",
                                        hint: "Check that this is the VB365 REST endpoint (https://HOST:4443 by default) and that the REST API is enabled."))
    }

    // MARK: Calls

    /// `GET /vN/ServiceInstance`: the installation id and the server's version.
    public func serviceInstance() throws -> VB365ServiceInstance {
        try decode(call("GET", "ServiceInstance", repeat: .idempotent, expect: [200]))
    }

    /// `POST /vN/DeviceCode`: a Microsoft user code and verification URL for the customer.
    public func createDeviceCode(region: VB365Region) throws -> VB365DeviceCode {
        try decode(call("POST", "DeviceCode", json: VB365DeviceCodeRequest(targetRegion: region), repeat: .whenUnprocessed, expect: [200]))
    }

    /// `POST /vN/DeviceCode/check`: whether the customer has signed in with the code.
    public func checkDeviceCode(_ userCode: String) throws -> Bool {
        let answer: VB365DeviceCodeCheck = try decode(call("POST", "DeviceCode/check", json: VB365DeviceCodeCheckRequest(userCode: userCode),
                                                           repeat: .idempotent, expect: [200]))
        return answer.authenticated
    }

    /// `GET /vN/Organizations`, every page; in v8 optionally filtered by Microsoft tenant id.
    public func organizations(msid: String? = nil) throws -> [VB365Organization] {
        let version = try apiVersion()
        guard version.pagesOrganizations else {
            return try decode(call("GET", "Organizations", repeat: .idempotent, expect: [200]))
        }
        var all: [VB365Organization] = []
        let limit = 100
        while true {
            var query = "Organizations?offset=\(all.count)&limit=\(limit)"
            if let msid { query += "&msid=\(Self.formEncode(msid))" }
            let page: VB365OrganizationPage = try decode(call("GET", query, repeat: .idempotent, expect: [200]))
            all += page.results
            if page.results.count < limit || page.results.isEmpty { return all }
        }
    }

    /// `GET /vN/Organizations/{id}`.
    public func organization(id: String) throws -> VB365Organization {
        try decode(call("GET", "Organizations/\(Self.pathSegment(id))", repeat: .idempotent, expect: [200]))
    }

    /// `POST /vN/Organizations`: adds an organization. Never repeated: when it fails with
    /// ``VB365Error/outcomeUnknown`` the organization may exist; look it up before trying again.
    public func addOrganization(_ organization: VB365Organization) throws -> VB365Organization {
        // Creating the Entra application can take VB365 a while: a short timeout would only
        // turn a success into an ambiguous outcome.
        let sent = try call("POST", "Organizations", json: organization, repeat: .never, expect: [200, 201],
                            timeout: max(configuration.http.totalTimeout, Self.addTimeout))
        do {
            return try decode(sent)
        } catch let error as VB365Error {
            // VB365 said yes but the answer cannot be read: the organization exists.
            throw VB365Error(error.error, status: error.status, outcomeUnknown: true)
        }
    }

    /// Seconds `POST Organizations` may take in all.
    public static let addTimeout: Double = 300

    /// `PUT /vN/Organizations/{id}` (204): changes an organization, e.g. its certificate.
    ///
    /// With `configureApplication` the body carries a user code that works once, so the call is
    /// then never repeated (like an add); without it, it is idempotent and retried.
    public func updateOrganization(id: String, _ organization: VB365Organization) throws {
        let once = organization.configureApplication == true
        _ = try call("PUT", "Organizations/\(Self.pathSegment(id))", json: organization, repeat: once ? .never : .idempotent, expect: [204, 200],
                     timeout: once ? max(configuration.http.totalTimeout, Self.addTimeout) : nil)
    }

    /// Logs in now (the calls above log in on their own when needed).
    public func logIn() throws {
        _ = try accessToken(forceNew: true)
    }

    // MARK: Authentication

    private func accessToken(forceNew: Bool = false) throws -> String {
        let current = lock.withLock { token }
        if let current, !forceNew, current.expiresAt.timeIntervalSinceNow > configuration.refreshMargin {
            return current.access
        }
        if let current {
            do {
                return try requestToken(["grant_type": "refresh_token", "refresh_token": current.refresh], grant: "refresh")
            } catch let error as VB365Error where error.status == 400 || error.status == 401 {
                logger.info("refresh token refused (HTTP \(error.status ?? 0)); logging in again")
            }
        }
        return try requestToken(["grant_type": "password", "username": configuration.username], grant: "password")
    }

    private func requestToken(_ fields: [String: String], grant: String) throws -> String {
        let version = try apiVersion()
        var pairs = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.formEncode($0.value))" }
        if version.hasAntiforgeryToken { pairs.append("disable_antiforgery_token=true") }
        var body = Array(pairs.joined(separator: "&").utf8)
        if grant == "password" {
            body += Array("&password=".utf8)
            password.withUnsafeBytes { body += Self.formEncode(bytes: $0) }
        }
        defer { Self.wipe(&body) }
        let request = HTTPRequest(method: "POST", url: url(version, "token"),
                                  headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], body: body)
        let response = try exchange(request, repeat: .idempotent, what: "POST /\(version.rawValue)/token")
        guard response.status == 200 else {
            let info = Self.errorBody(response)
            let said = info?.text.map { ": \($0)" } ?? ""
            throw VB365Error(
                CertVaultError(.vb365Authentication, "VB365 refused the \(grant) login of '\(configuration.username)' (HTTP \(response.status)\(said)).",
                               hint: response.status >= 500 ? "The server failed; retry later or check its logs."
                                   : "Check the user name (often DOMAIN\\user), the password source, and that the account may use the REST API."),
                status: response.status, serverMessage: info?.text, errorCode: info?.errorCode ?? info?.error)
        }
        let answer: VB365TokenResponse = try decode(response, call: "POST /\(version.rawValue)/token")
        lock.withLock {
            token = Token(access: answer.accessToken, refresh: answer.refreshToken, expiresAt: Date().addingTimeInterval(Double(answer.expiresIn)))
        }
        logger.info("VB365 \(grant) login succeeded; token valid for \(answer.expiresIn) s")
        return answer.accessToken
    }

    // MARK: Plumbing

    private struct Sent {
        let response: HTTPResponse
        let call: String
    }

    private func call(_ method: String, _ path: String, json: (any Encodable)? = nil, repeat: Repeat, expect: Set<Int>,
                      timeout: Double? = nil) throws -> Sent {
        let version = try apiVersion()
        let call = "\(method) /\(version.rawValue)/\(path.split(separator: "?").first ?? "")"
        var body: [UInt8]?
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var data = try encoder.encode(json)
            body = Array(data)
            // The encoder's buffer may hold a password: overwrite it before it is freed.
            data.resetBytes(in: 0..<data.count)
        }
        defer { if body != nil { Self.wipe(&body!) } }
        var retriedAuthentication = false
        while true {
            let access = try accessToken()
            var headers = [("Authorization", "Bearer \(access)"), ("Accept", "application/json")]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            let request = HTTPRequest(method: method, url: url(version, path), headers: headers, body: body, mayBeRepeated: `repeat` != .never,
                                      totalTimeout: timeout)
            let response = try exchange(request, repeat: `repeat`, what: call)
            if response.status == 401 && !retriedAuthentication {
                // The token expired early or was revoked: renew it once and try again.
                retriedAuthentication = true
                logger.info("\(call): 401, renewing the token once")
                lock.withLock { token?.expiresAt = .distantPast }
                continue
            }
            guard expect.contains(response.status) else { throw failure(response, call: call) }
            return Sent(response: response, call: call)
        }
    }

    /// Sends with retries; returns any answer that is not retried.
    private func exchange(_ request: HTTPRequest, repeat: Repeat, what: String) throws -> HTTPResponse {
        var attempt = 1
        while true {
            let started = Date()
            var retryAfter: Double?
            do {
                let response = try withHTTP { try $0.send(request) }
                logger.debug("\(what): HTTP \(response.status) in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
                let retryable: Bool
                switch (`repeat`, response.status) {
                case (.never, _): retryable = false
                case (_, 429), (_, 502), (_, 503), (_, 504): retryable = true
                case (.idempotent, 500...599): retryable = true
                default: retryable = false
                }
                guard retryable, attempt < configuration.retry.maximumAttempts else { return response }
                retryAfter = response.header("retry-after").flatMap(Double.init).map { min($0, configuration.retry.maximumDelay) }
                logger.info("\(what): HTTP \(response.status), retrying (attempt \(attempt + 1) of \(configuration.retry.maximumAttempts))")
            } catch let error as CertVaultError {
                let sent = error.code == .httpTransport
                let retryable: Bool
                switch `repeat` {
                case .never: retryable = false
                case .whenUnprocessed: retryable = error.code == .httpConnect
                case .idempotent: retryable = error.code == .httpConnect || error.code == .httpTransport
                }
                guard retryable, attempt < configuration.retry.maximumAttempts else {
                    throw VB365Error(error, outcomeUnknown: sent && request.method != "GET")
                }
                logger.info("\(what): \(error.reason) Retrying (attempt \(attempt + 1) of \(configuration.retry.maximumAttempts))")
            }
            attempt += 1
            Thread.sleep(forTimeInterval: retryAfter ?? configuration.retry.delay(beforeAttempt: attempt))
        }
    }

    private func failure(_ response: HTTPResponse, call: String) -> VB365Error {
        let info = Self.errorBody(response)
        let said = info?.text.map { ": \($0)" } ?? ""
        let codeText = info?.errorCode.map { " [\($0)]" } ?? ""
        let hint: String
        switch response.status {
        case 400: hint = "VB365 found the request invalid; its message says which value (region, user code, certificate and password)."
        case 401: hint = "The login was not accepted; check the account and its password."
        case 403: hint = "The account may not do this; use a VB365 administrator account."
        case 404: hint = "Not found: check the id, and that the server runs the API version in use."
        case 409: hint = "It conflicts with the server's state (an organization that already exists?)."
        case 429: hint = "The server is rate-limiting; wait and try again."
        case 500...599: hint = "The server failed; if this was an add, look the organization up before trying again; VB365's logs say more."
        default: hint = "See the server's message."
        }
        return VB365Error(CertVaultError(.vb365Rejected, Sentence.end("VB365 answered \(call) with HTTP \(response.status)\(codeText)\(said)"), hint: hint),
                          status: response.status, serverMessage: info?.text, errorCode: info?.errorCode ?? info?.error,
                          outcomeUnknown: response.status >= 500 && !call.hasPrefix("GET"))
    }

    private static func errorBody(_ response: HTTPResponse) -> VB365ErrorBody? {
        guard !response.body.isEmpty else { return nil }
        return try? JSONDecoder().decode(VB365ErrorBody.self, from: Data(response.body))
    }

    private func decode<T: Decodable>(_ sent: Sent) throws -> T { try decode(sent.response, call: sent.call) }

    private func decode<T: Decodable>(_ response: HTTPResponse, call: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw VB365Error(CertVaultError(.vb365Protocol, "The answer to \(call) (HTTP \(response.status), \(response.body.count) bytes) is not the JSON the API describes.",
                                            hint: "Check that the URL points at VB365's REST API and the API version matches.",
                                            underlying: Self.describe(error)),
                             status: response.status)
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "not JSON" : "bad value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: "undecodable"
        }
    }

    private func url(_ version: VB365APIVersion, _ path: String) -> String { "\(baseURL)/\(version.rawValue)/\(path)" }

    private func takeHTTP() throws -> HTTPClient {
        if let client = lock.withLock({ idle.popLast() }) { return client }
        return try HTTPClient(configuration: configuration.http, logger: logger)
    }

    private func give(_ client: HTTPClient) {
        lock.withLock { if idle.count < 8 { idle.append(client) } }
    }

    private func withHTTP<T>(_ body: (HTTPClient) throws -> T) throws -> T {
        let client = try takeHTTP()
        defer { give(client) }
        return try body(client)
    }

    static func formEncode(_ text: String) -> String {
        String(decoding: Array(text.utf8).withUnsafeBytes { formEncode(bytes: $0) }, as: UTF8.self)
    }

    /// application/x-www-form-urlencoded: unreserved bytes as they are, the rest as %XX.
    static func formEncode(bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return out
    }

    static func pathSegment(_ text: String) -> String { formEncode(text) }

    /// Overwrites a body that held a secret (the password, a PFX password) before it is freed.
    static func wipe(_ bytes: inout [UInt8]) { SecureWipe.wipe(&bytes) }
}
