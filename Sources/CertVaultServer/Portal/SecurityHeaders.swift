import Foundation
public import Hummingbird
public import HTTPTypes

/// The headers every portal and dashboard response carries, and the responses that carry them.
///
/// The policy allows nothing but this service's own stylesheet, script, images and status endpoint:
/// no inline script or style, no frames of these pages anywhere, forms posting only here. The token
/// of an invitation is in the URL, so no page sends a `Referer` and none is stored by a cache.
public enum SecurityHeaders {
    /// `Content-Security-Policy` of every page.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!

    /// Sets the policy headers; `cacheControl` is `no-store` for pages (assets pass their own).
    public static func apply(to headers: inout HTTPFields, cacheControl: String = "no-store") {
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[referrerPolicy] = "no-referrer"
        headers[.xContentTypeOptions] = "nosniff"
        headers[frameOptions] = "DENY"
        headers[.cacheControl] = cacheControl
    }
}

/// Responses of the pages: HTML, JSON and redirects, each with ``SecurityHeaders``.
public enum PageResponse {
    /// An HTML page; `headers` may add more (a `Set-Cookie`, for example).
    public static func html(_ text: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        SecurityHeaders.apply(to: &headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A JSON document (the status endpoint), never cached.
    public static func json<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        SecurityHeaders.apply(to: &headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// `303 See Other` to a path of this service (after a form's POST).
    public static func seeOther(_ location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.location] = location
        SecurityHeaders.apply(to: &headers)
        return Response(status: .seeOther, headers: headers)
    }
}
