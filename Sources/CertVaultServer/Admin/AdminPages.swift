import CertVaultAccess
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The dashboard's templates (`Portal/Resources/admin_*.mustache`, compiled into the binary) and
/// the responses made from them. Values go into the templates through `{{...}}`, which
/// HTML-escapes them; only the chart's SVG and table, which ``ExpiryChart`` escapes itself, and the
/// rendered page body go in unescaped.
struct AdminPages: Sendable {
    let library: MustacheLibrary

    /// The templates by name (the file name without `.mustache`).
    static let templates: [String: [UInt8]] = [
        "admin_layout": PackageResources.admin_layout_mustache,
        "admin_login": PackageResources.admin_login_mustache,
        "admin_error": PackageResources.admin_error_mustache,
        "admin_tenants": PackageResources.admin_tenants_mustache,
        "admin_audit": PackageResources.admin_audit_mustache,
        "admin_rotation": PackageResources.admin_rotation_mustache,
        "admin_invitations": PackageResources.admin_invitations_mustache,
    ]

    init() {
        var library = MustacheLibrary()
        for (name, bytes) in Self.templates {
            do {
                try library.register(String(decoding: bytes, as: UTF8.self), named: name)
            } catch {
                // The templates are part of the binary and covered by the tests: a broken one is a build defect.
                fatalError("the dashboard template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    /// The layout's values.
    struct Frame {
        var title: String
        var page: String
        var provider: String
        /// The signed-in caller, or nil on the sign-in and error pages before sign-in.
        var caller: AdminCaller?
    }

    /// `content` rendered with `values`, inside the layout.
    func render(_ content: String, _ values: [String: Any], frame: Frame) -> String {
        let body = library.render(values, withTemplate: content) ?? ""
        var layout: [String: Any] = [
            "title": frame.title, "page": frame.page, "provider": frame.provider, "content": body,
            "navTenants": frame.page == "tenants", "navInvitations": frame.page == "invitations", "navAudit": frame.page == "audit",
        ]
        if let caller = frame.caller {
            layout["signedIn"] = true
            layout["csrf"] = caller.csrf
            layout["tokenName"] = caller.grant.name
            layout["accessor"] = caller.grant.accessor
        }
        return library.render(layout, withTemplate: "admin_layout") ?? ""
    }

    // MARK: Responses

    /// The headers of every dashboard response: the customer pages' (``SecurityHeaders``: a
    /// Content-Security-Policy without inline script or style, no referrer, no sniffing, no
    /// caching, no framing).
    static func securityHeaders(cacheControl: String = "no-store") -> HTTPFields {
        var headers = HTTPFields()
        SecurityHeaders.apply(to: &headers, cacheControl: cacheControl)
        return headers
    }

    /// An HTML page.
    static func html(_ text: String, status: HTTPResponse.Status = .ok, cookies: [String] = [], headers extra: HTTPFields = [:])
        -> Response
    {
        var headers = securityHeaders()
        headers[.contentType] = "text/html; charset=utf-8"
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An HTML page given as bytes (a page with a secret spliced in: the caller wipes its copy).
    static func html(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = securityHeaders()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// 303 See Other to `location` (after a form, so that a reload does not send it again).
    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var headers = securityHeaders()
        headers[.location] = location
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    /// A stylesheet or script compiled into the binary.
    static func asset(_ bytes: [UInt8], contentType: String) -> Response {
        var headers = securityHeaders(cacheControl: "no-cache")
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
