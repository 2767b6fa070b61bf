import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultServer
import CertVaultTesting
import Foundation
import HTTPTypes
import Logging
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// ``APIWorld`` with the portal on: an invitation store in the vault's folder, the portal's settings.
final class PortalWorld: @unchecked Sendable {
    let api: APIWorld
    let invitations: InvitationStore
    let services: AppServices

    init(configure: (inout ServiceConfiguration.PortalSettings) -> Void = { _ in }) throws {
        api = try APIWorld()
        invitations = try InvitationStore(
            path: InvitationStore.defaultPath(vault: api.dir.file("vault")), vault: try api.vault())
        var services = api.services
        services.invitations = invitations
        services.configuration.portal.providerName = "Example Backup Ltd"
        services.configuration.portal.contact = "support@provider.example"
        services.configuration.portal.statusPollSeconds = 1
        configure(&services.configuration.portal)
        self.services = services
    }

    /// A new invitation's token text (`now` in the past makes an expired one).
    func invite(
        _ tenant: String, kind: Invitation.Kind = .onboarding, displayName: String? = "Contoso <Ltd>",
        lifetime: Int64 = 7 * 86_400, now: Int64 = UTCTime.now()
    ) throws -> (invitation: Invitation, token: String) {
        let made = try invitations.create(
            tenant: try TenantID(tenant), kind: kind, displayName: displayName, lifetimeSeconds: lifetime,
            createdBy: "cli:test", now: now)
        return (made.invitation, made.token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    func app(logger: Logger = APIWorld.logger) -> some ApplicationProtocol {
        Application(router: buildRouter(services: services, logger: logger), logger: logger)
    }
}

extension TestClientProtocol {
    /// A form POST (`application/x-www-form-urlencoded`).
    func post(_ uri: String, form: [(String, String)]) async throws -> TestResponse {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = form.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
        var headers = HTTPFields()
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers, body: nil)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The value of `<input ... name="csrf" value="...">`.
    var csrf: String? {
        guard let range = text.range(of: #"name="csrf" value=""#) else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }

    /// The text content of the element with `id` (up to the next `<`).
    func element(_ id: String) -> String? {
        guard let start = text.range(of: "id=\"\(id)\"") else { return nil }
        guard let close = text[start.upperBound...].firstIndex(of: ">") else { return nil }
        let rest = text[text.index(after: close)...]
        return String(rest.prefix { $0 != "<" })
    }

    /// Whether the page carries every security header of the contract.
    func hasSecurityHeaders(cache: String = "no-store") -> Bool {
        headers[.contentSecurityPolicy] == SecurityHeaders.contentSecurityPolicy
            && headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer"
            && headers[.xContentTypeOptions] == "nosniff" && headers[.cacheControl] == cache
    }
}
