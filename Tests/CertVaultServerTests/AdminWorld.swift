import CertVaultAccess
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultTesting
import CertVaultVault
import CertVaultConfiguration
@testable import CertVaultServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// A clock the tests move.
final class TestClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Int64 = UTCTime.now()) { seconds = Mutex(start) }
    var now: Int64 { seconds.withLock { $0 } }
    func advance(_ delta: Int64) { seconds.withLock { $0 += delta } }
}

/// An ``APIWorld`` with a clock the test moves, and the application built from it.
struct AdminWorld {
    let world: APIWorld
    let clock: TestClock
    let services: AppServices

    init(sessionMinutes: Int = 30, invitations: Bool = true) throws {
        world = try APIWorld()
        clock = TestClock()
        var services = world.services
        if !invitations {
            services.invitations = nil
        } else if services.invitations == nil {
            services.invitations = try InvitationStore(path: world.dir.file("vault/invitations"), vault: try world.vault())
        }
        services.configuration.portal.publicURL = "https://portal.example"
        let clock = self.clock
        services.clock = { clock.now }
        services.configuration.portal.sessionMinutes = sessionMinutes
        services.configuration.portal.providerName = "Contoso Backup Services"
        self.services = services
    }

    /// Stores a generation for `tenant` issued `days` ago (730-day certificates of the default policy).
    @discardableResult
    func issue(_ tenant: String, daysAgo days: Int64) throws -> Int {
        let issuer = Issuer(policy: try PolicyLoader.builtInDefault(), logger: APIWorld.logger)
        let prepared = try issuer.prepare(IssuanceRequest(tenant: try TenantID(tenant)), now: UTCTime.now() - days * 86_400)
        return try world.vault().store(tenant: try TenantID(tenant), payload: EntryPayload(try issuer.issue(prepared)))
    }

    func app(logger: Logger = APIWorld.logger) -> some ApplicationProtocol {
        Application(router: buildRouter(services: services, logger: logger), logger: logger)
    }
}

/// A browser's part in the tests: it keeps the cookies the service sets (by name, as one origin
/// and path would) and reads the form token out of pages.
struct AdminBrowser {
    var cookies: [String: String] = [:]
    /// The `csrf` value of the last page that had one.
    var csrf: String?

    /// The `Set-Cookie` values of a response.
    static func setCookies(_ response: TestResponse) -> [String] {
        response.headers[values: .setCookie]
    }

    mutating func absorb(_ response: TestResponse) {
        for header in Self.setCookies(response) {
            let pair = header.split(separator: ";", maxSplits: 1)[0]
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            if header.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        if let token = Self.csrf(in: response.text) { csrf = token }
    }

    static func csrf(in page: String) -> String? {
        guard let range = page.range(of: #"name="csrf" value="([^"]+)""#, options: .regularExpression) else { return nil }
        let match = page[range]
        return String(match.dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    var cookieHeader: String? {
        cookies.isEmpty ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }

    mutating func get(_ client: some TestClientProtocol, _ uri: String) async throws -> TestResponse {
        var headers = HTTPFields()
        if let cookie = cookieHeader { headers[.cookie] = cookie }
        let response = try await client.execute(uri: uri, method: .get, headers: headers, body: nil)
        absorb(response)
        return response
    }

    /// Sends a form; the page's `csrf` goes with it unless `fields` has one.
    mutating func post(_ client: some TestClientProtocol, _ uri: String, _ fields: [(String, String)] = [], csrf: Bool = true)
        async throws -> TestResponse
    {
        var fields = fields
        if csrf, !fields.contains(where: { $0.0 == "csrf" }), let token = self.csrf { fields.append(("csrf", token)) }
        var headers = HTTPFields()
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let cookie = cookieHeader { headers[.cookie] = cookie }
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        absorb(response)
        return response
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Opens the sign-in page and signs in with `token`.
    mutating func signIn(_ client: some TestClientProtocol, token: String) async throws -> TestResponse {
        _ = try await get(client, "/admin/login")
        return try await post(client, "/admin/login", [("token", token)])
    }
}

extension TestResponse {
    // `text` (the body as a string) is PortalWorld.swift's.

    /// The id of the dashboard's problem section (`forbidden`, `not-found`, `csrf-refused`...), if any.
    var problemID: String? {
        guard let range = text.range(of: #"<section class="card narrow problem" id="[a-z-]+""#, options: .regularExpression) else {
            return nil
        }
        return String(text[range].split(separator: "\"")[3])
    }
}

extension APIWorld {
    /// The audit records with `action`.
    func auditRecords(_ action: String) throws -> [AuditLogRecordView] {
        try vault().auditRecords().records.filter { $0.action == action }.map {
            AuditLogRecordView(action: $0.action, tenant: $0.tenant, detail: $0.detail)
        }
    }
}

/// What a test looks at in an audit record.
struct AuditLogRecordView: Sendable {
    let action: String
    let tenant: String?
    let detail: String
}
