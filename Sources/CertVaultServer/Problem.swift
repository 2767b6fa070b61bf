public import CertVaultCore
import Foundation
public import Hummingbird

/// An API error as `application/problem+json` (RFC 9457): a stable machine-readable `code`, a
/// `detail` that says what was wrong and a `hint` that says what to do. Never contains a secret.
public struct Problem: Error, HTTPResponseError, Sendable {
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// The stable code, for example `invalid-tenant-id` or `token-missing`.
    public let code: String
    /// What was wrong.
    public let detail: String
    /// What to do about it.
    public let hint: String?
    /// Extra response headers (for example `WWW-Authenticate`).
    public let headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: String, detail: String, hint: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint
        self.headers = headers
    }

    /// The media type of every error body.
    public static let mediaType = "application/problem+json"

    /// The JSON body.
    public func body() -> [UInt8] {
        var object: [String: Any] = [
            "type": "https://certvault.invalid/problems/\(code)",
            "title": status.reasonPhrase,
            "status": Int(status.code),
            "code": code,
            "detail": detail,
        ]
        if let hint { object["hint"] = hint }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = Problem.mediaType
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body())))
    }
}

extension Problem {
    /// Maps a library error to a problem: its code and sentences are already safe to show.
    /// `storage-unavailable` (the database did not answer) carries `Retry-After`: nothing was lost,
    /// the client may try again in a few seconds.
    public init(_ error: CertVaultError, status: HTTPResponse.Status) {
        let retry: HTTPFields = error.code == .storageUnavailable ? [.retryAfter: Problem.storageRetryAfterSeconds] : [:]
        self.init(status, code: error.code.name, detail: error.reason, hint: error.hint, headers: retry)
    }

    /// `Retry-After` of a `storage-unavailable` answer, in seconds.
    public static let storageRetryAfterSeconds = "5"

    /// 404 for a tenant that does not exist or is not covered by the caller's grant: the two are
    /// indistinguishable on purpose.
    public static func tenantNotFound(_ tenant: String) -> Problem {
        Problem(
            .notFound, code: "tenant-not-found",
            detail: "There is no tenant \(DisplayText.escapingControls(tenant, limit: 80)).",
            hint: "Check the tenant id with GET /v1/tenants.")
    }
}

extension Problem {
    /// `text` in double quotes with control characters escaped and its length bounded, for a detail.
    public static func quoted(_ text: String, limit: Int = 80) -> String {
        "'\(DisplayText.escapingControls(text, limit: limit))'"
    }

    /// A sentence about `error` that is safe to show: a library error's reason, or only its type.
    public static func safeDescription(of error: any Error) -> String {
        if let error = error as? CertVaultError { return error.reason }
        if let error = error as? Problem { return error.detail }
        return "an unexpected \(type(of: error))"
    }

    /// 401 for a request without a bearer token.
    public static let tokenMissing = Problem(
        .unauthorized, code: "token-missing", detail: "This route needs an API token.",
        hint: "Send 'Authorization: Bearer cvt_...' with a token made by 'certvault token create'.",
        headers: [.wwwAuthenticate: "Bearer realm=\"certvault\""])

    /// 401 for a token that is unknown, expired or revoked (indistinguishable on purpose).
    public static let tokenInvalid = Problem(
        .unauthorized, code: "token-invalid", detail: "The API token is not valid: unknown, expired or revoked.",
        hint: "Check it with 'certvault token list' (by its accessor) or make a new one with 'certvault token create'.",
        headers: [.wwwAuthenticate: "Bearer realm=\"certvault\", error=\"invalid_token\""])

    /// 403 for a token without the route's scope.
    public static func scopeMissing(_ scope: String) -> Problem {
        Problem(
            .forbidden, code: "scope-missing", detail: "The API token does not grant the scope \(scope) this route needs.",
            hint: "Use a token with scope \(scope), or add it to the token's access policy.",
            headers: [.wwwAuthenticate: "Bearer realm=\"certvault\", error=\"insufficient_scope\", scope=\"\(scope)\""])
    }

    /// 400 for a query parameter that is missing, unknown or malformed.
    public static func invalidQuery(_ detail: String, hint: String) -> Problem {
        Problem(.badRequest, code: "invalid-query", detail: detail, hint: hint)
    }
}
