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

    public init(_ status: HTTPResponse.Status, code: String, detail: String, hint: String? = nil,
                headers: HTTPFields = [:]) {
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
    public init(_ error: CertVaultError, status: HTTPResponse.Status) {
        self.init(status, code: error.code.name, detail: error.reason, hint: error.hint)
    }

    /// 404 for a tenant that does not exist or is not covered by the caller's grant: the two are
    /// indistinguishable on purpose.
    public static func tenantNotFound(_ tenant: String) -> Problem {
        Problem(.notFound, code: "tenant-not-found",
                detail: "There is no tenant \(DisplayText.escapingControls(tenant, limit: 80)).",
                hint: "Check the tenant id with GET /v1/tenants.")
    }
}
