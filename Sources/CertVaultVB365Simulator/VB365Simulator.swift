internal import CertVaultCore
public import CertVaultIssuer
internal import CertVaultHTTPServer
public import CertVaultVB365
internal import Foundation

/// A simulator of the part of the VB365 REST API (v6, v7, v8) that onboarding uses, following
/// the official OpenAPI descriptions: token (password and refresh grants), DeviceCode,
/// DeviceCode/check, Organizations (GET, POST, PUT), ServiceInstance; each version's status
/// codes and shapes; `RESTExceptionInfo` errors.
///
/// It plays the customer too: a device code counts as signed in when the control surface says
/// so (``signIn(userCode:)``, `POST /_simulator/sign-in`), after ``Configuration/signInAfter``,
/// or never. It opens every PFX it receives with the given password and checks the key, as
/// VB365 must to use it.
///
/// The control surface (`/_simulator/...`, and the same methods in Swift) injects faults, delays
/// and dropped connections and lists what was received, with secrets redacted. It has no
/// authentication: the simulator listens on loopback for tests and demos only.
public final class VB365Simulator: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The API version served; the others answer 404.
        public var version: VB365APIVersion
        /// Accepted accounts: user name to password.
        public var users: [String: String]
        /// Access-token lifetime in seconds (VB365's default is 3600).
        public var tokenLifetime: Int
        /// Device-code lifetime in seconds (about 900 at Microsoft).
        public var deviceCodeLifetime: Int
        /// Seconds after which a new device code counts as signed in; nil waits for the
        /// control surface.
        public var signInAfter: Double?
        /// Refuse AES (PBES2) encrypted PFX files as Windows Server 2016 does, with its
        /// misleading wrong-password message.
        public var windowsServer2016: Bool
        /// Keep organizations in this JSON file across restarts.
        public var storeFile: String?
        /// The Microsoft cloud each tenant really is in (by organization name); adding it with
        /// another region is refused, as Microsoft's sign-in would fail there.
        public var tenantRegions: [String: VB365Region] = [:]
        /// The name VB365 gives an organization, by the (lower-case) name it was added with; default the same.
        public var organizationNames: [String: String] = [:]

        public init(version: VB365APIVersion = .v8, users: [String: String] = ["VB365\\admin": "simulator"],
                    tokenLifetime: Int = 3600, deviceCodeLifetime: Int = 900, signInAfter: Double? = nil,
                    windowsServer2016: Bool = false, storeFile: String? = nil) {
            self.version = version
            self.users = users
            self.tokenLifetime = tokenLifetime
            self.deviceCodeLifetime = deviceCodeLifetime
            self.signInAfter = signInAfter
            self.windowsServer2016 = windowsServer2016
            self.storeFile = storeFile
        }
    }

    public let configuration: Configuration
    /// The TLS identity (nil for plain HTTP): its certificate is the client's CA file.
    public let identity: TLSServerIdentity?
    private var server: HTTPServer!
    private let lock = NSLock()
    private var accessTokens: [String: (user: String, expiresAt: Date, antiforgery: Bool)] = [:]
    private var refreshTokens: [String: String] = [:]
    private var deviceCodes: [String: SimulatedDeviceCode] = [:]
    private var organizations: [String: StoredOrganization] = [:]
    private var order: [String] = []
    private var faults: [String: [Fault]] = [:]
    private var delays: [String: Double] = [:]
    private var exchanges: [SimulatorExchange] = []
    private let installationId = UUID().uuidString.lowercased()

    /// Creates a simulator listening on `host:port` (0: any free port), over TLS with a fresh
    /// certificate from our issuer unless `tls` is false.
    public init(configuration: Configuration = .init(), host: String = "127.0.0.1", port: Int = 0, tls: Bool = true) throws {
        self.configuration = configuration
        if tls {
            let hosts = host == "127.0.0.1" || host == "::1" ? ["localhost", "127.0.0.1", "::1"] : ["localhost", host]
            identity = try TLSServerIdentity.makeSelfSigned(commonName: "VB365 simulator", hosts: hosts)
        } else {
            identity = nil
        }
        try loadStore()
        let settings = identity.map { HTTPServer.TLSSettings(certificatePEM: $0.certificatePEM, privateKeyPEM: $0.privateKeyPEM) }
        server = try HTTPServer(host: host, port: port, tls: settings) { [weak self] request in
            guard let self else { return .dropConnection }
            return self.handle(request)
        }
    }

    /// Starts listening.
    public func start() throws { try server.start() }

    /// Stops listening and closes connections.
    public func stop() { server.stop() }

    /// `https://127.0.0.1:PORT`.
    public var baseURL: String { server.baseURL }

    // MARK: Control surface

    /// The customer's step: marks a user code as signed in. False when the code is unknown.
    @discardableResult
    public func signIn(userCode: String) -> Bool {
        lock.withLock {
            guard deviceCodes[userCode] != nil else { return false }
            deviceCodes[userCode]!.signedIn = true
            return true
        }
    }

    /// The next `count` calls of `endpoint` (such as `POST Organizations`, `GET Organizations/{id}`,
    /// `POST token`, or `*`) answer `status` with a `RESTExceptionInfo` body, without processing.
    public func failNext(_ endpoint: String, status: Int, count: Int = 1) {
        addFault(endpoint, Fault(kind: .status(status), remaining: count))
    }

    /// The next `count` calls of `endpoint` are processed, then the connection is closed without
    /// an answer (or, with `truncate`, after half the answer).
    public func dropAfterProcessing(_ endpoint: String, count: Int = 1, truncate: Bool = false) {
        addFault(endpoint, Fault(kind: truncate ? .truncateAfterProcessing : .dropAfterProcessing, remaining: count))
    }

    /// The next `count` calls of `endpoint` answer 200 with a body that is not JSON, or with
    /// `oversized` bytes of JSON padding.
    public func corruptNext(_ endpoint: String, count: Int = 1, oversized: Int? = nil) {
        addFault(endpoint, Fault(kind: oversized.map { .oversizedResponse($0) } ?? .malformedResponse, remaining: count))
    }

    /// The next `count` calls of `endpoint` answer `status` with exactly `body`, unprocessed: a
    /// hostile or broken server (numbers out of range, control characters, wrong shapes).
    public func respondNext(_ endpoint: String, status: Int, body: [UInt8], count: Int = 1) {
        addFault(endpoint, Fault(kind: .rawResponse(status, body), remaining: count))
    }

    /// The next `count` calls of `endpoint` answer `status` with the request body, as received,
    /// as the error message: a server that echoes secrets back.
    public func echoRequestNext(_ endpoint: String, status: Int = 400, count: Int = 1) {
        addFault(endpoint, Fault(kind: .echoRequest(status), remaining: count))
    }

    /// The next `count` calls of `GET Organizations` (v8) answer a full page, never the end;
    /// with `repeating`, always the same first page.
    public func endlessPages(repeating: Bool, count: Int = Int.max) {
        addFault("GET Organizations", Fault(kind: .endlessPages(repeating: repeating), remaining: count))
    }

    /// Every answer of `endpoint` waits `seconds` (0 removes the delay).
    public func delay(_ endpoint: String, seconds: Double) {
        lock.withLock { delays[Self.normalize(endpoint)] = seconds > 0 ? seconds : nil }
    }

    /// Makes every access token issued so far expire now.
    public func expireTokens() {
        lock.withLock {
            for key in accessTokens.keys { accessTokens[key]!.expiresAt = .distantPast }
        }
    }

    /// Makes every device code handed out so far expire now (the customer took too long).
    public func expireDeviceCodes() {
        lock.withLock {
            for key in deviceCodes.keys { deviceCodes[key] = SimulatedDeviceCode(code: key, region: deviceCodes[key]!.region, expiresAt: .distantPast,
                                                                                 signedIn: deviceCodes[key]!.signedIn, used: deviceCodes[key]!.used) }
        }
    }

    /// What was received so far, secrets redacted.
    public func received() -> [SimulatorExchange] { lock.withLock { exchanges } }

    /// The organizations stored, in the order they were added.
    public func storedOrganizations() -> [VB365Organization] {
        lock.withLock { order.compactMap { organizations[$0]?.organization } }
    }

    /// How many certificates an organization has been given.
    public func certificateGenerations(organizationId: String) -> Int? {
        lock.withLock { organizations[organizationId]?.certificateGenerations }
    }

    /// All device codes handed out, newest last.
    public func issuedUserCodes() -> [String] {
        lock.withLock { deviceCodes.values.sorted { $0.expiresAt < $1.expiresAt }.map(\.code) }
    }

    private func addFault(_ endpoint: String, _ fault: Fault) {
        lock.withLock { faults[Self.normalize(endpoint), default: []].append(fault) }
    }

    private static func normalize(_ endpoint: String) -> String { endpoint.lowercased() }

    // MARK: Dispatch

    struct Answer {
        var status: Int
        var body: JSONValue?
        var raw: [UInt8]?
        var note: String?
    }

    private func handle(_ request: HTTPServerRequest) -> HTTPServerAction {
        if request.path.hasPrefix("/_simulator/") { return control(request) }
        let segments = request.path.split(separator: "/").map(String.init)
        guard let first = segments.first, VB365APIVersion(rawValue: first.lowercased()) == configuration.version else {
            return record(request, endpoint: nil, Answer(status: 404), fault: nil)
        }
        let rest = segments.dropFirst().map { $0 }
        let endpoint = Self.endpointName(method: request.method, rest)
        let fault: Fault.Kind? = lock.withLock {
            for key in [Self.normalize(endpoint), "*"] {
                guard var list = faults[key], !list.isEmpty else { continue }
                let kind = list[0].kind
                list[0].remaining -= 1
                if list[0].remaining <= 0 { list.removeFirst() }
                faults[key] = list
                return kind
            }
            return nil
        }
        var answer: Answer
        if case .status(let status) = fault {
            answer = Answer(status: status, body: errorBody("Simulated failure (HTTP \(status)) injected through the control surface.", code: nil),
                            note: "injected-fault")
        } else if case .rawResponse(let status, let bytes) = fault {
            answer = Answer(status: status, raw: bytes, note: "injected-fault")
        } else if case .echoRequest(let status) = fault {
            answer = Answer(status: status, body: errorBody("Cannot process the request: " + String(decoding: request.body, as: UTF8.self), code: "ParameterValidationFailure"),
                            note: "injected-fault")
        } else if case .endlessPages(let repeating) = fault {
            let limit = Int(request.query["limit"] ?? "30") ?? 30
            let offset = repeating ? 0 : Int(request.query["offset"] ?? "0") ?? 0
            let results: [JSONValue] = (0..<max(limit, 1)).map { index in
                .object(["id": .string("endless-\(offset + index)"), "name": .string("endless-\(offset + index).onmicrosoft.com"),
                         "type": .string("Office365")])
            }
            answer = Answer(status: 200, body: .object(["offset": .number(Double(offset)), "limit": .number(Double(limit)), "results": .array(results)]),
                            note: "injected-fault")
        } else {
            answer = route(request, rest)
            if fault == .malformedResponse { answer = Answer(status: 200, raw: Array("<html>not json".utf8), note: "malformed") }
            if case .oversizedResponse(let size) = fault {
                answer = Answer(status: 200, raw: Array("[\"".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: size) + Array("\"]".utf8), note: "oversized")
            }
        }
        return record(request, endpoint: endpoint, answer, fault: fault)
    }

    private func record(_ request: HTTPServerRequest, endpoint: String?, _ answer: Answer, fault: Fault.Kind?) -> HTTPServerAction {
        let contentType = request.header("content-type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var requestBody: JSONValue?
        if !request.body.isEmpty {
            if contentType == "application/x-www-form-urlencoded" {
                requestBody = .object(Self.parseForm(request.body).mapValues { .string($0) }).redacted()
            } else {
                requestBody = JSONValue.parse(request.body)?.redacted() ?? .string("<not JSON, \(request.body.count) bytes>")
            }
        }
        var note = answer.note
        let delay = endpoint.flatMap { name in lock.withLock { delays[Self.normalize(name)] ?? delays["*"] } } ?? 0
        if delay > 0 { note = (note.map { $0 + "," } ?? "") + "delayed" }
        if fault == .dropAfterProcessing || fault == .truncateAfterProcessing { note = (note.map { $0 + "," } ?? "") + "dropped" }
        var path = request.path
        if !request.query.isEmpty { path += "?" + request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&") }
        let exchange = SimulatorExchange(method: request.method, path: path, status: answer.status, requestContentType: contentType,
                                         requestBody: requestBody, responseBody: answer.raw == nil ? answer.body?.redacted() : nil, note: note)
        lock.withLock { exchanges.append(exchange) }

        var bytes = answer.raw ?? []
        if answer.raw == nil, let body = answer.body {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            bytes = (try? Array(encoder.encode(body))) ?? []
        }
        let response = bytes.isEmpty ? HTTPServerResponse(status: answer.status) : HTTPServerResponse.json(answer.status, bytes)
        switch fault {
        case .dropAfterProcessing: return .dropConnection
        case .truncateAfterProcessing: return .truncate(response)
        default: return .respond(response, delay: delay)
        }
    }

    static func endpointName(method: String, _ rest: [String]) -> String {
        let shape = rest.enumerated().map { index, segment in
            index == 1 && rest[0].lowercased() == "organizations" ? "{id}" : segment
        }
        return "\(method.uppercased()) \(shape.joined(separator: "/"))"
    }

    private func route(_ request: HTTPServerRequest, _ rest: [String]) -> Answer {
        let lower = rest.map { $0.lowercased() }
        switch (request.method.uppercased(), lower) {
        case ("POST", ["token"]): return token(request)
        case (_, ["token"]): return methodNotAllowed()
        default: break
        }
        if let denied = authenticate(request) { return denied }
        switch (request.method.uppercased(), lower) {
        case ("GET", ["serviceinstance"]):
            let versionText = ["v6": "6.1.0.222", "v7": "7.1.0.1401", "v8": "8.1.0.331"][configuration.version.rawValue]!
            return Answer(status: 200, body: .object(["installationId": .string(installationId), "version": .string(versionText)]))
        case ("POST", ["devicecode"]): return createDeviceCode(request)
        case ("POST", ["devicecode", "check"]): return checkDeviceCode(request)
        case ("GET", ["organizations"]): return listOrganizations(request)
        case ("POST", ["organizations"]): return addOrganization(request)
        case ("GET", let path) where path.count == 2 && path[0] == "organizations": return getOrganization(rest[1])
        case ("PUT", let path) where path.count == 2 && path[0] == "organizations": return updateOrganization(rest[1], request)
        case (_, ["serviceinstance"]), (_, ["devicecode"]), (_, ["devicecode", "check"]), (_, ["organizations"]): return methodNotAllowed()
        case (_, let path) where path.count == 2 && path[0] == "organizations": return methodNotAllowed()
        default: return Answer(status: 404, body: errorBody("The resource was not found.", code: "ResourceNotFound"))
        }
    }

    // MARK: Errors in each version's shape

    /// `RESTExceptionInfo`: v6 has `message` only; v7's `errorCode` enum holds only
    /// `ProxyOffline`, so it is left out; v8 sets the codes it defines.
    private func errorBody(_ message: String, code: String?) -> JSONValue {
        var object: [String: JSONValue] = ["message": .string(message)]
        if configuration.version == .v8, let code { object["errorCode"] = .string(code) }
        return .object(object)
    }

    private func invalid(_ message: String) -> Answer {
        Answer(status: 400, body: errorBody(message, code: "ParameterValidationFailure"))
    }

    private func methodNotAllowed() -> Answer {
        Answer(status: 405, body: errorBody("The requested resource does not support this HTTP method.", code: nil))
    }

    // MARK: token

    private func token(_ request: HTTPServerRequest) -> Answer {
        let contentType = request.header("content-type")?.lowercased() ?? ""
        var fields: [String: String]
        if contentType.hasPrefix("application/x-www-form-urlencoded") {
            fields = Self.parseForm(request.body)
        } else if contentType.hasPrefix("application/json"), case .object(let object)? = JSONValue.parse(request.body) {
            fields = object.compactMapValues { value -> String? in
                switch value {
                case .string(let text): text
                case .bool(let flag): flag ? "true" : "false"
                default: nil
                }
            }
        } else {
            return Answer(status: 415, body: errorBody("The token request must be application/x-www-form-urlencoded or application/json.", code: nil))
        }
        let antiforgery = configuration.version.hasAntiforgeryToken && fields["disable_antiforgery_token"]?.lowercased() != "true"
        let user: String
        switch fields["grant_type"] {
        case "password":
            guard let name = fields["username"], let password = fields["password"] else {
                return invalid("username and password are required for the password grant.")
            }
            guard let expected = configuration.users[name], Self.constantTimeEqual(expected, password) else {
                return Answer(status: 400, body: errorBody("Invalid user name or password.", code: nil))
            }
            user = name
        case "refresh_token":
            guard let refresh = fields["refresh_token"] else { return invalid("refresh_token is required for the refresh_token grant.") }
            guard let owner = lock.withLock({ refreshTokens.removeValue(forKey: refresh) }) else {
                return Answer(status: 400, body: errorBody("The refresh token is invalid or was already used.", code: nil))
            }
            user = owner
        case nil:
            return invalid("grant_type is required.")
        case let other?:
            return invalid("grant_type '\(other)' is not supported by the simulator.")
        }
        let access = Self.randomToken()
        let refresh = Self.randomToken()
        let now = Date()
        let expiresAt = now.addingTimeInterval(Double(configuration.tokenLifetime))
        lock.withLock {
            accessTokens[access] = (user, expiresAt, antiforgery)
            refreshTokens[refresh] = user
        }
        var body: [String: JSONValue] = [
            "access_token": .string(access), "refresh_token": .string(refresh), "token_type": .string("bearer"),
            "expires_in": .number(Double(configuration.tokenLifetime)), "userName": .string(user),
            ".issued": .string(Self.httpDate(now)), ".expires": .string(Self.httpDate(expiresAt)),
        ]
        if configuration.version == .v8 && user.isEmpty { body["userName"] = nil }
        return Answer(status: 200, body: .object(body))
    }

    private func authenticate(_ request: HTTPServerRequest) -> Answer? {
        guard let header = request.header("authorization"), header.lowercased().hasPrefix("bearer ") else {
            return Answer(status: 401, body: errorBody("Authorization has been denied for this request.", code: nil))
        }
        let presented = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let token = lock.withLock({ accessTokens[presented] }) else {
            return Answer(status: 401, body: errorBody("Authorization has been denied for this request.", code: nil))
        }
        guard token.expiresAt > Date() else {
            return Answer(status: 401, body: errorBody("The access token has expired.", code: nil))
        }
        if token.antiforgery && request.header("x-xsrf-token") == nil {
            return Answer(status: 401, body: errorBody("The antiforgery token is missing; send disable_antiforgery_token=true when logging in from a non-browser client.", code: nil))
        }
        return nil
    }

    // MARK: DeviceCode

    private func createDeviceCode(_ request: HTTPServerRequest) -> Answer {
        let options: VB365DeviceCodeRequest
        do {
            options = request.body.isEmpty ? VB365DeviceCodeRequest(targetRegion: nil) : try JSONDecoder().decode(VB365DeviceCodeRequest.self, from: Data(request.body))
        } catch {
            return invalid("The request body is not a valid RESTCommonDeviceCodeRequestOptions: \(Self.describe(error)).")
        }
        if options.loginGraphAppOrganizationId != nil && configuration.version != .v8 {
            return invalid("loginGraphAppOrganizationId is not known in \(configuration.version.rawValue).")
        }
        let region = options.targetRegion ?? .worldwide
        let code = Self.randomUserCode()
        let lifetime = configuration.deviceCodeLifetime
        lock.withLock {
            deviceCodes[code] = SimulatedDeviceCode(code: code, region: region, expiresAt: Date().addingTimeInterval(Double(lifetime)),
                                                    signedIn: false, used: false)
        }
        if let after = configuration.signInAfter {
            DispatchQueue.global().asyncAfter(deadline: .now() + after) { [weak self] in self?.signIn(userCode: code) }
        }
        // Microsoft's device-login pages per cloud, as the client checks them (VB365DeviceLogin).
        let url = switch region {
        case .china: "https://microsoft.com/deviceloginchina"
        case .usGovernment, .usDefence: "https://microsoft.com/deviceloginus"
        default: "https://microsoft.com/devicelogin"
        }
        return Answer(status: 200, body: .object([
            "userCode": .string(code), "verificationUrl": .string(url), "expiresIn": .number(Double(lifetime)),
            "message": .string("To sign in, use a web browser to open the page \(url) and enter the code \(code) to authenticate."),
        ]))
    }

    private func checkDeviceCode(_ request: HTTPServerRequest) -> Answer {
        guard let check = try? JSONDecoder().decode(VB365DeviceCodeCheckRequest.self, from: Data(request.body)) else {
            return invalid("userCode is required.")
        }
        guard let code = lock.withLock({ deviceCodes[check.userCode] }) else {
            return invalid("The user code '\(check.userCode)' is not known.")
        }
        guard code.expiresAt > Date() else { return invalid("The user code '\(check.userCode)' has expired; request a new device code.") }
        return Answer(status: 200, body: .object(["authenticated": .bool(code.signedIn)]))
    }

    // MARK: Organizations

    private func listOrganizations(_ request: HTTPServerRequest) -> Answer {
        var list = lock.withLock { order.compactMap { organizations[$0]?.organization } }
        guard configuration.version.pagesOrganizations else {
            return Answer(status: 200, body: .array(list.map(encodeOrganization)))
        }
        if let msid = request.query["msid"] {
            list = list.filter { $0.msid?.lowercased() == msid.lowercased() }
        }
        guard let offset = Int(request.query["offset"] ?? "0"), offset >= 0, let limit = Int(request.query["limit"] ?? "30"), limit >= 0 else {
            return invalid("offset and limit must be non-negative integers.")
        }
        let page = Array(list.dropFirst(offset).prefix(limit))
        return Answer(status: 200, body: .object([
            "offset": .number(Double(offset)), "limit": .number(Double(limit)), "setId": .string(UUID().uuidString.lowercased()),
            "results": .array(page.map(encodeOrganization)),
            "_links": .object(["self": .object(["href": .string("/\(configuration.version.rawValue)/Organizations?offset=\(offset)&limit=\(limit)")])]),
        ]))
    }

    private func getOrganization(_ id: String) -> Answer {
        guard let stored = lock.withLock({ organizations[id.lowercased()] }) else {
            return Answer(status: 404, body: errorBody("Organization with ID '\(id)' was not found.", code: "ResourceNotFound"))
        }
        return Answer(status: 200, body: encodeOrganization(stored.organization))
    }

    private func addOrganization(_ request: HTTPServerRequest) -> Answer {
        let body: VB365Organization
        switch decodeOrganization(request) {
        case .failure(let answer): return answer
        case .success(let decoded): body = decoded
        }
        guard body.type == .office365 else {
            return invalid("type must be Office365 for a Microsoft 365 organization (got \(body.type?.rawValue ?? "nothing")).")
        }
        guard let region = body.region else { return invalid("region is required.") }
        guard let officeName = body.officeName, !officeName.isEmpty else { return invalid("officeName is required.") }
        guard let userCode = body.userCode, !userCode.isEmpty else {
            return invalid("userCode is required to add an organization with a new application.")
        }
        guard let newApplicationName = body.newApplicationName, !newApplicationName.isEmpty else {
            return invalid("newApplicationName is required when no applicationId is given.")
        }
        let services = [body.isExchangeOnline, body.isSharePointOnline, body.isTeamsOnline, body.isTeamsChatsOnline].compactMap { $0 }
        guard services.contains(true) else { return invalid("At least one service (Exchange, SharePoint, Teams) must be selected.") }
        if let actual = configuration.tenantRegions[officeName.lowercased()], actual != region {
            return invalid("Failed to connect to the organization \(officeName) in region \(region.rawValue): the tenant is in region \(actual.rawValue).")
        }
        if let problem = checkCode(userCode, region: region) { return problem }
        let thumbprint: String
        switch checkCertificates(body) {
        case .failure(let answer): return answer
        case .success(let value): thumbprint = value
        }
        return lock.withLock {
            if organizations.values.contains(where: { $0.organization.officeName?.lowercased() == officeName.lowercased() }) {
                return Answer(status: 400, body: errorBody("Organization \(officeName) has already been added.", code: "OperationConflict"))
            }
            guard var code = deviceCodes[userCode], !code.used else {
                return invalid("The user code '\(userCode)' has already been used; request a new device code.")
            }
            code.used = true
            deviceCodes[userCode] = code
            let id = UUID().uuidString.lowercased()
            let applicationId = UUID().uuidString.lowercased()
            let storedName = configuration.organizationNames[officeName.lowercased()] ?? officeName
            var stored = VB365Organization(id: id, name: storedName, officeName: storedName, type: .office365, region: region)
            stored.isExchangeOnline = body.isExchangeOnline ?? false
            stored.isSharePointOnline = body.isSharePointOnline ?? false
            stored.isTeamsOnline = body.isTeamsOnline ?? false
            stored.isTeamsChatsOnline = body.isTeamsChatsOnline ?? false
            stored.isBackedup = false
            let settings = VB365ConnectionSettings(useApplicationOnlyAuth: true, officeOrganizationName: officeName, applicationId: applicationId,
                                                   applicationCertificateThumbprint: thumbprint)
            if stored.isExchangeOnline == true || stored.isTeamsOnline == true { stored.exchangeOnlineSettings = settings }
            if stored.isSharePointOnline == true { stored.sharePointOnlineSettings = settings }
            if configuration.version.hasMicrosoftTenantID { stored.msid = Self.stableUUID(officeName.lowercased()) }
            stored.links = ["self": VB365Link(href: "/\(configuration.version.rawValue)/Organizations/\(id)")]
            organizations[id] = StoredOrganization(organization: stored, thumbprint: thumbprint, certificateGenerations: 1)
            order.append(id)
            saveStoreLocked()
            return Answer(status: configuration.version.organizationCreatedStatus, body: encodeOrganization(stored))
        }
    }

    private func updateOrganization(_ id: String, _ request: HTTPServerRequest) -> Answer {
        let body: VB365Organization
        switch decodeOrganization(request) {
        case .failure(let answer): return answer
        case .success(let decoded): body = decoded
        }
        guard let existing = lock.withLock({ organizations[id.lowercased()] }) else {
            return Answer(status: 404, body: errorBody("Organization with ID '\(id)' was not found.", code: "ResourceNotFound"))
        }
        if let type = body.type, type != .office365 { return invalid("type must be Office365.") }
        if body.configureApplication == true {
            guard let userCode = body.userCode else { return invalid("configureApplication needs a userCode signed in by a Global Administrator.") }
            if let problem = checkCode(userCode, region: existing.organization.region ?? .worldwide) { return problem }
            if lock.withLock({ deviceCodes[userCode]?.used == true }) {
                return invalid("The user code '\(userCode)' has already been used; request a new device code.")
            }
        }
        var thumbprint = existing.thumbprint
        var newCertificate = false
        if body.exchangeOnlineSettings?.applicationCertificate != nil || body.sharePointOnlineSettings?.applicationCertificate != nil {
            switch checkCertificates(body) {
            case .failure(let answer): return answer
            case .success(let value):
                thumbprint = value
                newCertificate = true
            }
        }
        return lock.withLock {
            guard var stored = organizations[id.lowercased()] else {
                return Answer(status: 404, body: errorBody("Organization with ID '\(id)' was not found.", code: "ResourceNotFound"))
            }
            if body.configureApplication == true, let userCode = body.userCode { deviceCodes[userCode]?.used = true }
            stored.thumbprint = thumbprint
            if newCertificate { stored.certificateGenerations += 1 }
            for keyPath in [\VB365Organization.exchangeOnlineSettings, \VB365Organization.sharePointOnlineSettings] {
                stored.organization[keyPath: keyPath]?.applicationCertificateThumbprint = thumbprint
            }
            if let flag = body.isTeamsOnline { stored.organization.isTeamsOnline = flag }
            if let flag = body.isTeamsChatsOnline { stored.organization.isTeamsChatsOnline = flag }
            organizations[id.lowercased()] = stored
            saveStoreLocked()
            return Answer(status: 204)
        }
    }

    private enum Decoded {
        case success(VB365Organization)
        case failure(Answer)
    }

    private func decodeOrganization(_ request: HTTPServerRequest) -> Decoded {
        guard request.header("content-type")?.lowercased().hasPrefix("application/json") == true else {
            return .failure(Answer(status: 415, body: errorBody("The body must be application/json.", code: nil)))
        }
        do {
            return .success(try JSONDecoder().decode(VB365Organization.self, from: Data(request.body)))
        } catch {
            return .failure(invalid("The request body is not a valid RestOrganizationComposed: \(Self.describe(error))."))
        }
    }

    private func checkCode(_ userCode: String, region: VB365Region) -> Answer? {
        guard let code = lock.withLock({ deviceCodes[userCode] }) else { return invalid("The user code '\(userCode)' is not known.") }
        guard code.expiresAt > Date() else { return invalid("The user code '\(userCode)' has expired; request a new device code.") }
        guard code.signedIn else {
            return invalid("The user code '\(userCode)' has not been used to sign in yet; the Global Administrator must sign in at the verification URL first.")
        }
        guard code.region == region else {
            return invalid("The user code was issued for region \(code.region.rawValue), but the organization is in \(region.rawValue).")
        }
        return nil
    }

    private enum Checked {
        case success(String)
        case failure(Answer)
    }

    /// Opens each PFX with its password and checks the key, as VB365 has to in order to use it.
    private func checkCertificates(_ body: VB365Organization) -> Checked {
        let wanted: [(String, VB365ConnectionSettings?)] = [
            ("exchangeOnlineSettings", body.isExchangeOnline == true || body.isTeamsOnline == true ? body.exchangeOnlineSettings : nil),
            ("sharePointOnlineSettings", body.isSharePointOnline == true ? body.sharePointOnlineSettings : nil),
        ]
        var thumbprints: Set<String> = []
        for (name, settings) in wanted {
            guard let settings else {
                if name == "exchangeOnlineSettings" && (body.isExchangeOnline == true || body.isTeamsOnline == true) ||
                    name == "sharePointOnlineSettings" && body.isSharePointOnline == true {
                    return .failure(invalid("\(name) is required for the selected services."))
                }
                continue
            }
            guard settings.useApplicationOnlyAuth == true else {
                return .failure(invalid("\(name).useApplicationOnlyAuth must be true for modern app-only authentication."))
            }
            guard let base64 = settings.applicationCertificate, let pfx = Data(base64Encoded: base64) else {
                return .failure(invalid("\(name).applicationCertificate must be the base64 of a PFX file."))
            }
            guard let password = settings.applicationCertificatePassword else {
                return .failure(invalid("\(name).applicationCertificatePassword is required."))
            }
            if configuration.windowsServer2016 && Self.usesPBES2(Array(pfx)) {
                // Windows Server 2016 cannot decrypt AES (PBES2) PKCS#12 and blames the password.
                return .failure(invalid("Failed to import the certificate: The specified network password is not correct."))
            }
            let contents: PKCS12Contents
            do {
                contents = try PKCS12Contents(pfx: Array(pfx), password: password.bytes)
            } catch {
                return .failure(invalid("Failed to import the certificate from \(name): the certificate password is not correct or the file is damaged."))
            }
            guard contents.keyIsRSA else { return .failure(invalid("The certificate in \(name) must have an RSA key (Microsoft Entra ID accepts RSA only).")) }
            guard contents.keyBits >= 2048 else {
                return .failure(invalid("The certificate key in \(name) is \(contents.keyBits) bits; at least 2048 are required."))
            }
            guard contents.keyMatchesCertificate else {
                return .failure(invalid("The private key in \(name) does not belong to its certificate."))
            }
            thumbprints.insert(contents.thumbprintSHA1)
        }
        guard thumbprints.count == 1, let thumbprint = thumbprints.first else {
            return .failure(invalid(thumbprints.isEmpty ? "No certificate was given." : "exchangeOnlineSettings and sharePointOnlineSettings must carry the same certificate."))
        }
        return .success(thumbprint)
    }

    /// Whether a PFX uses PBES2 (AES) anywhere: its OID 1.2.840.113549.1.5.13 appears in the
    /// unencrypted AlgorithmIdentifier of an encrypted bag. (A chance match inside ciphertext
    /// has a probability of about n/2^88.)
    static func usesPBES2(_ pfx: [UInt8]) -> Bool {
        let oid: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]
        guard pfx.count >= oid.count else { return false }
        for start in 0...(pfx.count - oid.count) where pfx[start] == 0x06 && pfx[start + 1] == 0x09 {
            if Array(pfx[start..<(start + oid.count)]) == oid { return true }
        }
        return false
    }

    private func encodeOrganization(_ organization: VB365Organization) -> JSONValue {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(organization), let value = try? JSONDecoder().decode(JSONValue.self, from: data) else { return .null }
        return value
    }

    // MARK: Control over HTTP

    private func control(_ request: HTTPServerRequest) -> HTTPServerAction {
        let body = JSONValue.parse(request.body)
        func answer(_ status: Int, _ value: JSONValue) -> HTTPServerAction {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            return .respond(.json(status, (try? Array(encoder.encode(value))) ?? []))
        }
        switch (request.method, request.path) {
        case ("POST", "/_simulator/sign-in"):
            guard let code = body?["userCode"]?.stringValue else { return answer(400, .object(["error": .string("give {\"userCode\": ...}")])) }
            return signIn(userCode: code) ? answer(200, .object(["signedIn": .bool(true)])) : answer(404, .object(["error": .string("unknown user code")]))
        case ("POST", "/_simulator/faults"):
            guard let endpoint = body?["endpoint"]?.stringValue else {
                return answer(400, .object(["error": .string("give {\"endpoint\": \"POST Organizations\", \"status\": 500 | \"action\": \"drop\"|\"truncate\"|\"malformed\", \"count\": 1} or {\"endpoint\":..., \"delay\": seconds}")]))
            }
            var count = 1
            if case .number(let value)? = body?["count"] { count = Int(value) }
            if case .number(let seconds)? = body?["delay"] {
                delay(endpoint, seconds: seconds)
            } else if case .number(let status)? = body?["status"] {
                failNext(endpoint, status: Int(status), count: count)
            } else if case .object(let respond)? = body?["respond"] {
                var status = 200
                if case .number(let value)? = respond["status"] { status = Int(value) }
                respondNext(endpoint, status: status, body: Array((respond["body"]?.stringValue ?? "").utf8), count: count)
            } else {
                switch body?["action"]?.stringValue {
                case "echo": echoRequestNext(endpoint, count: count)
                case "endless-pages": endlessPages(repeating: false, count: body?["count"] == nil ? Int.max : count)
                case "repeat-page": endlessPages(repeating: true, count: body?["count"] == nil ? Int.max : count)
                case "drop": dropAfterProcessing(endpoint, count: count)
                case "truncate": dropAfterProcessing(endpoint, count: count, truncate: true)
                case "malformed": corruptNext(endpoint, count: count)
                default: return answer(400, .object(["error": .string("unknown fault")]))
                }
            }
            return answer(200, .object(["ok": .bool(true)]))
        case ("POST", "/_simulator/expire-tokens"):
            expireTokens()
            return answer(200, .object(["ok": .bool(true)]))
        case ("POST", "/_simulator/expire-codes"):
            expireDeviceCodes()
            return answer(200, .object(["ok": .bool(true)]))
        case ("GET", "/_simulator/requests"):
            let encoder = JSONEncoder()
            let list = (try? encoder.encode(received())).flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) } ?? .array([])
            return answer(200, list)
        case ("GET", "/_simulator/organizations"):
            return answer(200, .array(storedOrganizations().map(encodeOrganization)))
        case ("GET", "/_simulator/device-codes"):
            let codes = lock.withLock { deviceCodes.values.map { JSONValue.object(["userCode": .string($0.code), "signedIn": .bool($0.signedIn), "used": .bool($0.used)]) } }
            return answer(200, .array(codes))
        default:
            return answer(404, .object(["error": .string("unknown control path; see docs/vb365-simulator.md")]))
        }
    }

    // MARK: Store

    private func loadStore() throws {
        guard let path = configuration.storeFile, FileManager.default.fileExists(atPath: path) else { return }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let list = try JSONDecoder().decode([StoredOrganization].self, from: data)
            for item in list {
                guard let id = item.organization.id else { continue }
                organizations[id] = item
                order.append(id)
            }
        } catch {
            throw CertVaultError(.invalidInput, "The simulator's store file '\(path)' is not valid.", hint: "Move it away to start with no organizations.")
        }
    }

    private func saveStoreLocked() {
        guard let path = configuration.storeFile else { return }
        let list = order.compactMap { organizations[$0] }
        guard let data = try? JSONEncoder().encode(list) else { return }
        let temporary = path + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) {
            _ = rename(temporary, path)
        }
    }

    // MARK: Helpers

    static func parseForm(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields[HTTPServer.percentDecode(String(parts[0]))] = parts.count == 2 ? HTTPServer.percentDecode(String(parts[1])) : ""
        }
        return fields
    }

    private static func randomToken() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
    }

    /// Nine characters from letters and digits, as Microsoft's device codes look.
    private static func randomUserCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<9).map { _ in alphabet.randomElement()! })
    }

    /// A UUID derived from a name, so one Microsoft tenant keeps one `msid` across restarts.
    private static func stableUUID(_ name: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in name.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 7
        }
        let hex = String(format: "%016llx%016llx", hash, second)
        let chars = Array(hex)
        return "\(String(chars[0..<8]))-\(String(chars[8..<12]))-4\(String(chars[13..<16]))-a\(String(chars[17..<20]))-\(String(chars[20..<32]))"
    }

    private static func httpDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): "'\(key.stringValue)' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "not JSON" : "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has a value that is not allowed"
        default: "it cannot be read"
        }
    }
}
