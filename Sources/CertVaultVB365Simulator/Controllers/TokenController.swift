internal import Foundation
internal import CertVaultVB365
internal import Hummingbird

/// `POST /vN/token`: the password and refresh-token grants, form or JSON; a refresh token works
/// once. On v7 and v8 a login without `disable_antiforgery_token=true` gets tokens that later
/// calls refuse unless the antiforgery header comes along, as a browser would send it.
struct TokenController {
    let state: SimulatorState

    func addRoutes(to group: RouterGroup<SimulatorRequestContext>) {
        group.post("token") { request, context in token(request, context) }
    }

    func token(_ request: Request, _ context: SimulatorRequestContext) -> VB365Answer {
        let errors = state.errors
        let configuration = state.configuration
        let contentType = request.header("content-type")?.lowercased() ?? ""
        var fields: [String: String]
        if contentType.hasPrefix("application/x-www-form-urlencoded") {
            fields = FormEncoding.parse(context.body)
        } else if contentType.hasPrefix("application/json"), case .object(let object)? = JSONValue.parse(context.body) {
            fields = object.compactMapValues { value -> String? in
                switch value {
                case .string(let text): text
                case .bool(let flag): flag ? "true" : "false"
                default: nil
                }
            }
        } else {
            return errors.answer(415, "The token request must be application/x-www-form-urlencoded or application/json.")
        }
        let needsAntiforgery = configuration.version.hasAntiforgeryToken && fields["disable_antiforgery_token"]?.lowercased() != "true"
        let user: String
        switch fields["grant_type"] {
        case "password":
            guard let name = fields["username"], let password = fields["password"] else {
                return errors.invalid("username and password are required for the password grant.")
            }
            guard let expected = configuration.users[name], Identifiers.constantTimeEqual(expected, password) else {
                return errors.answer(400, "Invalid user name or password.")
            }
            user = name
        case "refresh_token":
            guard let refresh = fields["refresh_token"] else { return errors.invalid("refresh_token is required for the refresh_token grant.") }
            guard let owner = state.withStorage({ $0.refreshTokens.removeValue(forKey: refresh) }) else {
                return errors.answer(400, "The refresh token is invalid or was already used.")
            }
            user = owner
        case nil:
            return errors.invalid("grant_type is required.")
        case let other?:
            return errors.invalid("grant_type '\(other)' is not supported by the simulator.")
        }
        let access = Identifiers.randomToken()
        let refresh = Identifiers.randomToken()
        let now = Date()
        let expiresAt = now.addingTimeInterval(Double(configuration.tokenLifetime))
        state.withStorage { storage in
            storage.accessTokens[access] = IssuedAccessToken(user: user, expiresAt: expiresAt, needsAntiforgery: needsAntiforgery)
            storage.refreshTokens[refresh] = user
        }
        var body: [String: JSONValue] = [
            "access_token": .string(access), "refresh_token": .string(refresh), "token_type": .string("bearer"),
            "expires_in": .number(Double(configuration.tokenLifetime)), "userName": .string(user),
            ".issued": .string(Identifiers.timestamp(now)), ".expires": .string(Identifiers.timestamp(expiresAt)),
        ]
        if configuration.version == .v8 && user.isEmpty { body["userName"] = nil }
        return VB365Answer(status: 200, body: .object(body))
    }
}
