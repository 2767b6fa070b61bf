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
        /// Where a device code's `verificationUrl` may point: entries `host` or `host/path-prefix`
        /// (https only). Nil: Microsoft's device-login hosts for the region
        /// (``VB365DeviceLogin/defaultHosts(for:)``); a list replaces them (a cloud not known here).
        public var verificationHosts: [String]?
        /// The most pages of `GET Organizations` read before giving up (v8).
        public var maximumPages: Int
        /// The most organizations accepted from `GET Organizations`.
        public var maximumOrganizations: Int

        public init(serverURL: String, version: VB365APIVersion? = nil, username: String,
                    http: HTTPClient.Configuration = .init(), retry: RetryPolicy = .init(), refreshMargin: Double = 60,
                    verificationHosts: [String]? = nil, maximumPages: Int = 1_000, maximumOrganizations: Int = 100_000) {
            self.serverURL = serverURL
            self.version = version
            self.username = username
            self.http = http
            self.retry = retry
            self.refreshMargin = refreshMargin
            self.verificationHosts = verificationHosts
            self.maximumPages = maximumPages
            self.maximumOrganizations = maximumOrganizations
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
    private var exchangeObserver: (@Sendable (Int?) -> Void)?
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
    ///
    /// The answer is checked before anyone sees it: the user code is letters and digits, the
    /// lifetime 1 s to a day, the message escaped, and `verificationUrl` an https URL on one of
    /// Microsoft's device-login hosts for the region (``Configuration/verificationHosts``): a
    /// compromised server must not send the customer's Global Administrator to a phishing page.
    public func createDeviceCode(region: VB365Region) throws -> VB365DeviceCode {
        let sent = try call("POST", "DeviceCode", json: VB365DeviceCodeRequest(targetRegion: region), repeat: .whenUnprocessed, expect: [200])
        let code: VB365DeviceCode = try decode(sent)
        let allowed = configuration.verificationHosts ?? VB365DeviceLogin.defaultHosts(for: region)
        guard VB365DeviceLogin.isAllowed(code.verificationUrl, hosts: allowed) else {
            throw VB365Error(CertVaultError(
                .vb365Protocol,
                "VB365 answered \(sent.call) with the verification URL '\(DisplayText.escapingControls(code.verificationUrl, limit: 200))', which is not one of Microsoft's device-login pages for region \(region.rawValue).",
                hint: "Do not pass this URL on: the server may be compromised. If Microsoft really uses it (a cloud certvault does not know), list it with --verification-hosts (or $CERTVAULT_VB365_VERIFICATION_HOSTS); see docs/vb365-simulator.md."),
                status: sent.response.status)
        }
        return code
    }

    /// `POST /vN/DeviceCode/check`: whether the customer has signed in with the code.
    public func checkDeviceCode(_ userCode: String) throws -> Bool {
        let answer: VB365DeviceCodeCheck = try decode(call("POST", "DeviceCode/check", json: VB365DeviceCodeCheckRequest(userCode: userCode),
                                                           repeat: .idempotent, expect: [200]))
        return answer.authenticated
    }

    /// `GET /vN/Organizations`, every page; in v8 optionally filtered by Microsoft tenant id.
    ///
    /// Bounded: at most ``Configuration/maximumPages`` pages and ``Configuration/maximumOrganizations``
    /// organizations; a page that answers another offset than asked for, or repeats the previous
    /// page, stops the listing with a protocol error (a server that always returns a full page
    /// would otherwise be read forever).
    public func organizations(msid: String? = nil) throws -> [VB365Organization] {
        let version = try apiVersion()
        guard version.pagesOrganizations else {
            let sent = try call("GET", "Organizations", repeat: .idempotent, expect: [200])
            let list: [VB365Organization] = try decode(sent)
            guard list.count <= configuration.maximumOrganizations else { throw tooMany(sent.call, list.count) }
            return list.map { $0.escapedForDisplay() }
        }
        var all: [VB365Organization] = []
        var previous: [String?]?
        let limit = 100
        for pageNumber in 1...max(1, configuration.maximumPages) {
            var query = "Organizations?offset=\(all.count)&limit=\(limit)"
            if let msid { query += "&msid=\(Self.formEncode(msid))" }
            let sent = try call("GET", query, repeat: .idempotent, expect: [200])
            let page: VB365OrganizationPage = try decode(sent)
            if page.results.isEmpty { return all.map { $0.escapedForDisplay() } }
            let ids = page.results.map(\.id)
            guard page.offset == all.count, ids != previous else {
                throw VB365Error(CertVaultError(
                    .vb365Protocol,
                    "VB365 answered \(sent.call) page \(pageNumber) (offset \(all.count)) with " +
                        (page.offset != all.count ? "offset \(page.offset) instead" : "the same organizations as the page before") + ": its paging does not advance.",
                    hint: "The server's paging is broken; check the VB365 server (or the URL: is this VB365?)."), status: sent.response.status)
            }
            previous = ids
            all += page.results
            guard all.count <= configuration.maximumOrganizations else { throw tooMany(sent.call, all.count) }
            if page.results.count < limit { return all.map { $0.escapedForDisplay() } }
        }
        throw VB365Error(CertVaultError(
            .vb365Protocol, "VB365 answered more than \(configuration.maximumPages) full pages of organizations (\(all.count) so far); listing stopped.",
            hint: "A VB365 server holds far fewer organizations; its paging is broken. Check the server."))
    }

    private func tooMany(_ call: String, _ count: Int) -> VB365Error {
        VB365Error(CertVaultError(
            .vb365Protocol, "VB365 answered \(call) with more than \(configuration.maximumOrganizations) organizations (\(count)); listing stopped.",
            hint: "This is far more than a VB365 server holds; check the server."))
    }

    /// `GET /vN/Organizations/{id}`.
    public func organization(id: String) throws -> VB365Organization {
        let organization: VB365Organization = try decode(call("GET", "Organizations/\(Self.pathSegment(id))", repeat: .idempotent, expect: [200]))
        return organization.escapedForDisplay()
    }

    /// `POST /vN/Organizations`: adds an organization. Never repeated: when it fails with
    /// ``VB365Error/outcomeUnknown`` the organization may exist; look it up before trying again.
    public func addOrganization(_ organization: VB365Organization) throws -> VB365Organization {
        // Creating the Entra application can take VB365 a while: a short timeout would only
        // turn a success into an ambiguous outcome.
        let sent = try call("POST", "Organizations", json: organization, repeat: .never, expect: [200, 201],
                            timeout: max(configuration.http.totalTimeout, Self.addTimeout), scrub: Self.certificates(organization))
        do {
            let added: VB365Organization = try decode(sent)
            return added.escapedForDisplay()
        } catch let error as VB365Error {
            // VB365 said yes but the answer cannot be read: the organization exists.
            throw VB365Error(error.error, status: error.status, outcomeUnknown: true)
        }
    }

    /// The base64 PFX files in a body: scrubbed from whatever the server says back.
    private static func certificates(_ organization: VB365Organization) -> [String] {
        [organization.exchangeOnlineSettings?.applicationCertificate, organization.sharePointOnlineSettings?.applicationCertificate].compactMap { $0 }
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
                     timeout: once ? max(configuration.http.totalTimeout, Self.addTimeout) : nil, scrub: Self.certificates(organization))
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
        var pairs = fields.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) }
        if version.hasAntiforgeryToken { pairs.append(("disable_antiforgery_token", Array("true".utf8))) }
        let body = Self.formBody(pairs, password: grant == "password" ? password : nil)
        for index in pairs.indices { SecureWipe.wipe(&pairs[index].1) }
        let request = HTTPRequest(method: "POST", url: url(version, "token"),
                                  headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
                                  secretBody: body)
        let response = try exchange(request, repeat: .idempotent, what: "POST /\(version.rawValue)/token")
        guard response.status == 200 else {
            let text = serverText(Self.errorBody(response), scrub: fields["refresh_token"].map { [$0] } ?? [])
            let said = text.message.map { ": \($0)" } ?? ""
            if response.status == 404 {
                throw VB365Error(
                    CertVaultError(.vb365Version, "VB365 at \(baseURL) does not serve API \(version.rawValue): POST /\(version.rawValue)/token answered HTTP 404.",
                                   hint: "Leave out --api-version to detect the version the server serves, or give another one (v6, v7, v8)."),
                    status: response.status, serverMessage: text.message, errorCode: text.code)
            }
            throw VB365Error(
                CertVaultError(.vb365Authentication, "VB365 refused the \(grant) login of '\(DisplayText.escapingControls(configuration.username))' (HTTP \(response.status)\(said)).",
                               hint: response.status >= 500 ? "The server failed; retry later or check its logs."
                                   : "Check the user name (often DOMAIN\\user), the password source, and that the account may use the REST API."),
                status: response.status, serverMessage: text.message, errorCode: text.code)
        }
        let answer: VB365TokenResponse = try decode(response, call: "POST /\(version.rawValue)/token")
        lock.withLock {
            token = Token(access: answer.accessToken, refresh: answer.refreshToken, expiresAt: Date().addingTimeInterval(Double(answer.expiresIn)))
        }
        logger.info("VB365 \(grant) login succeeded; token valid for \(answer.expiresIn) s")
        return answer.accessToken
    }

    /// `name=value&...` form-encoded straight into secure memory, then `&password=...` from the
    /// password's own secure memory: no other buffer ever holds the password.
    static func formBody(_ pairs: [(String, [UInt8])], password: SecretBytes?) -> SecretBytes {
        var length = 0
        for (index, pair) in pairs.enumerated() {
            length += (index > 0 ? 1 : 0) + formEncodedLength(Array(pair.0.utf8)) + 1
            length += pair.1.withUnsafeBytes { formEncodedLength($0) }
        }
        if let password { length += (pairs.isEmpty ? 0 : 1) + "password=".utf8.count + password.withUnsafeBytes { formEncodedLength($0) } }
        return SecretBytes(count: length) { target in
            var out = 0
            let put: (UInt8) -> Void = { byte in
                target[out] = byte
                out += 1
            }
            for (index, pair) in pairs.enumerated() {
                if index > 0 { put(UInt8(ascii: "&")) }
                Array(pair.0.utf8).withUnsafeBytes { formEncode(bytes: $0, into: put) }
                put(UInt8(ascii: "="))
                pair.1.withUnsafeBytes { formEncode(bytes: $0, into: put) }
            }
            if let password {
                if !pairs.isEmpty { put(UInt8(ascii: "&")) }
                for byte in "password=".utf8 { put(byte) }
                password.withUnsafeBytes { formEncode(bytes: $0, into: put) }
            }
        }
    }

    // MARK: Plumbing

    private struct Sent {
        let response: HTTPResponse
        let call: String
    }

    private func call(_ method: String, _ path: String, json: (any Encodable)? = nil, repeat: Repeat, expect: Set<Int>,
                      timeout: Double? = nil, scrub: [String] = []) throws -> Sent {
        let version = try apiVersion()
        let call = "\(method) /\(version.rawValue)/\(path.split(separator: "?").first ?? "")"
        // Assembled in secure memory: the PFX password never passes through a String or the
        // encoder's buffers (VB365JSONBody).
        let encoded = try json.map { try VB365JSONBody.encodeCollecting($0) }
        let body = encoded?.body
        let secrets = encoded?.secrets ?? []
        var retriedAuthentication = false
        while true {
            let access = try accessToken()
            var headers = [("Authorization", "Bearer \(access)"), ("Accept", "application/json")]
            if body != nil { headers.append(("Content-Type", "application/json")) }
            let request = HTTPRequest(method: method, url: url(version, path), headers: headers, mayBeRepeated: `repeat` != .never,
                                      totalTimeout: timeout, secretBody: body)
            let response = try exchange(request, repeat: `repeat`, what: call)
            if response.status == 401 && !retriedAuthentication {
                // The token expired early or was revoked: renew it once and try again.
                retriedAuthentication = true
                logger.info("\(call): 401, renewing the token once")
                lock.withLock { token?.expiresAt = .distantPast }
                continue
            }
            guard expect.contains(response.status) else { throw failure(response, call: call, scrub: scrub, secrets: secrets) }
            return Sent(response: response, call: call)
        }
    }

    /// Calls `observer` after every HTTP exchange with the server (each attempt, retries included)
    /// with the answer's status, or `nil` when no answer came (connection, TLS, timeout). The
    /// service counts VB365 calls and errors with it. Never given a body, a header or a secret.
    public func observeExchanges(_ observer: @escaping @Sendable (Int?) -> Void) {
        lock.withLock { exchangeObserver = observer }
    }

    private func observed(_ status: Int?) {
        lock.withLock { exchangeObserver }?(status)
    }

    /// Sends with retries; returns any answer that is not retried.
    private func exchange(_ request: HTTPRequest, repeat: Repeat, what: String) throws -> HTTPResponse {
        var attempt = 1
        while true {
            let started = Date()
            var retryAfter: Double?
            do {
                let response: HTTPResponse
                do {
                    response = try withHTTP { try $0.send(request) }
                } catch {
                    observed(nil)
                    throw error
                }
                observed(response.status)
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

    private func failure(_ response: HTTPResponse, call: String, scrub: [String] = [], secrets: [SecretBytes] = []) -> VB365Error {
        let text = serverText(Self.errorBody(response), scrub: scrub, secrets: secrets)
        let said = text.message.map { ": \($0)" } ?? ""
        let codeText = text.code.map { " [\($0)]" } ?? ""
        let hint: String
        switch response.status {
        case 400: hint = "VB365 found the request invalid; its message says which value (region, user code, certificate and password)."
        case 401: hint = "The login was not accepted; check the account and its password."
        case 403: hint = "The account may not do this; use a VB365 administrator account."
        case 404: hint = "Not found: check the id, and that the server serves the API version in use (leave out --api-version to detect it)."
        case 409: hint = "It conflicts with the server's state (an organization that already exists?)."
        case 429: hint = "The server is rate-limiting; wait and try again."
        case 500...599: hint = "The server failed; if this was an add, look the organization up before trying again; VB365's logs say more."
        default: hint = "See the server's message."
        }
        return VB365Error(CertVaultError(.vb365Rejected, Sentence.end("VB365 answered \(call) with HTTP \(response.status)\(codeText)\(said)"), hint: hint),
                          status: response.status, serverMessage: text.message, errorCode: text.code,
                          outcomeUnknown: response.status >= 500 && !call.hasPrefix("GET"))
    }

    /// What the server said, made fit to keep and show: everything secret that this client
    /// sent or holds (the VB365 password, the tokens, PFX passwords, base64 PFX files) is cut
    /// out, then control characters are escaped and the text is cut short (VB365ServerText).
    private func serverText(_ info: VB365ErrorBody?, scrub: [String], secrets: [SecretBytes] = []) -> (message: String?, code: String?) {
        guard let info else { return (nil, nil) }
        let tokens = lock.withLock { token.map { [$0.access, $0.refresh] } ?? [] }
        let cleaner = VB365ServerText(secrets: [password] + secrets, strings: scrub + tokens)
        return (info.text.map { cleaner.clean($0, limit: VB365Limits.serverText) },
                (info.errorCode ?? info.error).map { cleaner.clean($0, limit: VB365Limits.shortServerText) })
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
            if let range = error as? VB365ValueOutOfRange {
                throw VB365Error(CertVaultError(.vb365Protocol, "The answer to \(call) (HTTP \(response.status)) is out of range: \(range).",
                                                hint: "The server sent a value the API cannot mean; check the VB365 server (is this VB365?).",
                                                underlying: range.description),
                                 status: response.status)
            }
            throw VB365Error(CertVaultError(.vb365Protocol, "The answer to \(call) (HTTP \(response.status), \(response.body.count) bytes) is not the JSON the API describes.",
                                            hint: "Check that the URL points at VB365's REST API and the API version matches.",
                                            underlying: Self.describe(error)),
                             status: response.status)
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let range = error as? VB365ValueOutOfRange { return range.description }
        return switch error as? DecodingError {
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
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        formEncode(bytes: bytes) { out.append($0) }
        return out
    }

    /// Form-encodes byte by byte into `put` (a secure buffer), with no buffer of its own.
    static func formEncode(bytes: UnsafeRawBufferPointer, into put: (UInt8) -> Void) {
        let hex: StaticString = "0123456789ABCDEF"
        for byte in bytes {
            if isUnreserved(byte) {
                put(byte)
            } else {
                put(UInt8(ascii: "%"))
                put(hex.utf8Start[Int(byte >> 4)])
                put(hex.utf8Start[Int(byte & 0xF)])
            }
        }
    }

    static func formEncodedLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        bytes.reduce(0) { $0 + (isUnreserved($1) ? 1 : 3) }
    }

    static func formEncodedLength(_ bytes: [UInt8]) -> Int { bytes.withUnsafeBytes { formEncodedLength($0) } }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func pathSegment(_ text: String) -> String { formEncode(text) }

    /// The proxy requests to the server go through (from `https_proxy`/`all_proxy`, never for
    /// loopback), without credentials; nil when none.
    public var proxy: String? { HTTPClient.proxy(for: baseURL + "/", configuration: configuration.http) }
}
