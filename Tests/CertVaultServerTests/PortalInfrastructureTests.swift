import CertVaultConfiguration
import CertVaultCore
import CertVaultTesting
@testable import CertVaultServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite("The pages' infrastructure: templates, security headers, assets, CSRF, HTML errors", .serialized)
struct PortalInfrastructureTests {
    @Test("Every template parses and renders inside the layout with the provider's name and contact")
    func templatesRender() throws {
        var settings = ServiceConfiguration.PortalSettings()
        settings.providerName = "Example Backup Ltd"
        settings.contact = "support@provider.example"
        let renderer = try PageRenderer(settings: settings)
        for template in PageRenderer.templates.map(\.name) where template != "layout" {
            let page = renderer.render(template, ["title": "A page"])
            #expect(page.hasPrefix("<!DOCTYPE html>"), "\(template)")
            #expect(page.contains("Example Backup Ltd"), "\(template)")
            #expect(page.contains("support@provider.example"), "\(template)")
            #expect(page.contains(PageAssets.embedded["portal.css"]!.url), "\(template)")
        }
    }

    @Test("No template prints data unescaped ({{{x}}} or {{& x}}), and none has inline script, style or handlers")
    func templatesEscapeEverything() {
        for template in PageRenderer.templates {
            let text = String(decoding: template.bytes, as: UTF8.self)
            #expect(!text.contains("{{{"), "\(template.name)")
            #expect(!text.contains("{{&"), "\(template.name)")
            #expect(!text.contains("<style"), "\(template.name)")
            #expect(!text.contains("style=\""), "\(template.name)")
            #expect(text.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil, "\(template.name): no inline handler")
            #expect(!text.contains("<script>"), "\(template.name): scripts only by src")
        }
    }

    @Test("Values are HTML-escaped: < > & \" ' become entities")
    func escaping() throws {
        let renderer = try PageRenderer(settings: .init())
        let page = renderer.errorPage(
            elementID: "error", title: "t", heading: "<script>alert(1)</script>", message: #"" onmouseover='x' &amp;"#)
        #expect(!page.contains("<script>alert(1)</script>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains("&quot; onmouseover=&#39;x&#39; &amp;amp;"))
    }

    @Test("A CSRF token verifies for its binding only, in full, and a missing or garbled one is refused")
    func csrfTokens() {
        let csrf = CSRF(key: SecretBytes.random(count: 32))
        let token = csrf.token(binding: "invitation:0123456789abcdef")
        #expect(token.count == 43)
        #expect(csrf.token(binding: "invitation:0123456789abcdef") == token, "stable: a reloaded page still posts")
        #expect(csrf.verify(token, binding: "invitation:0123456789abcdef"))
        #expect(!csrf.verify(token, binding: "invitation:fedcba9876543210"))
        #expect(!csrf.verify(token, binding: "session:0123456789abcdef"))
        #expect(!csrf.verify(nil, binding: "invitation:0123456789abcdef"))
        #expect(!csrf.verify("", binding: "invitation:0123456789abcdef"))
        #expect(!csrf.verify(String(token.dropLast()) + (token.last == "A" ? "B" : "A"), binding: "invitation:0123456789abcdef"))
        #expect(!csrf.verify(token + "A", binding: "invitation:0123456789abcdef"))
        let other = CSRF(key: SecretBytes.random(count: 32))
        #expect(!other.verify(token, binding: "invitation:0123456789abcdef"), "another vault's key")
    }

    @Test("The stylesheet and the script: their types, an ETag, a year's cache, 304 for a known version")
    func assets() async throws {
        let world = try PortalWorld()
        try await world.app().test(.router) { client in
            for (name, type) in [("portal.css", "text/css; charset=utf-8"), ("portal.js", "text/javascript; charset=utf-8")] {
                let asset = try #require(PageAssets.embedded[name])
                let response = try await client.get(asset.url)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == type)
                #expect(response.headers[.eTag] == "\"\(asset.version)\"")
                #expect(response.hasSecurityHeaders(cache: "public, max-age=31536000, immutable"))
                #expect(response.body.readableBytes == asset.bytes.readableBytes)
                var headers = HTTPFields()
                headers[.ifNoneMatch] = "\"\(asset.version)\""
                let again = try await client.get("/assets/\(name)", headers: headers)
                #expect(again.status == .notModified)
                #expect(again.body.readableBytes == 0)
            }
        }
    }

    @Test("The logo is served from [portal] provider_logo with its type; without one /assets/logo is the 404 page")
    func logo() async throws {
        let plain = try PortalWorld()
        try await plain.app().test(.router) { client in
            let response = try await client.get("/assets/logo")
            #expect(response.status == .notFound)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
        }
        let svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>"#
        let holder = try TemporaryDirectory()
        let path = try holder.write("logo.svg", svg)
        let branded = try PortalWorld { $0.providerLogo = path }
        try await branded.app().test(.router) { client in
            let response = try await client.get("/assets/logo")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "image/svg+xml")
            #expect(response.text == svg)
            #expect(response.headers[.contentSecurityPolicy] == SecurityHeaders.contentSecurityPolicy)
            let (_, token) = try branded.invite("contoso")
            let page = try await client.get("/onboard/\(token)")
            #expect(page.text.contains(#"<img class="logo" src="/assets/logo?v="#))
        }
    }

    @Test("Errors below /onboard and /assets are HTML pages with the security headers, never problem+json")
    func htmlErrors() async throws {
        let world = try PortalWorld()
        try await world.app().test(.router) { client in
            var bodies: Set<String> = []
            for path in ["/onboard/nothing", "/onboard/nothing/sign-in", "/onboard/a/b/c/d", "/assets/missing.css", "/onboard/"] {
                let response = try await client.get(path)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(path)")
                #expect(response.hasSecurityHeaders(), "\(path)")
                #expect(response.text.contains(#"id="not-found""#), "\(path)")
                bodies.insert(response.text)
            }
            let posted = try await client.post("/onboard/nothing/renew", form: [("csrf", "x")])
            #expect(posted.status == .notFound)
            bodies.insert(posted.text)
            #expect(bodies.count == 1, "one page for every invalid link")
            // The API keeps problem+json.
            let api = try await client.get("/v1/nothing")
            #expect(api.headers[.contentType] == "application/problem+json")
        }
    }

    @Test("Without an invitation store (portal off) every /onboard page is the 404 page")
    func portalOff() async throws {
        let world = try APIWorld()
        try await world.app().test(.router) { client in
            let response = try await client.get("/onboard/cvi_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            #expect(response.status == .notFound)
            #expect(response.text.contains(#"id="not-found""#))
        }
    }

    @Test(
        "The organization name: an onmicrosoft.com name or a domain",
        arguments: [
            ("contoso.onmicrosoft.com", true), ("contoso.com", true), ("sub.contoso.co.uk", true), ("xn--bcher-kva.ch", true),
            ("contoso", false), ("https://contoso.com", false), ("contoso .com", false), ("-contoso.com", false),
            ("contoso.c", false), ("contoso..com", false), ("<script>.com", false), ("contoso.com.", false),
            ("contoso.123", false), (String(repeating: "a", count: 64) + ".com", false),
        ])
    func organizationNames(name: String, valid: Bool) {
        #expect(OnboardingForm.isDomainName(name) == valid)
    }

    @Test(
        "The contact e-mail: local@domain",
        arguments: [
            ("ada@contoso.com", true), ("first.last+tag@mail.contoso.onmicrosoft.com", true), ("ada@contoso", false),
            ("ada", false), ("@contoso.com", false), ("ada@@contoso.com", false), ("a da@contoso.com", false),
            ("<ada>@contoso.com", false), (#""ada"@contoso.com"#, false), (".ada@contoso.com", false),
        ])
    func emailAddresses(address: String, valid: Bool) {
        #expect(OnboardingForm.isEmailAddress(address) == valid)
    }

    @Test("The services follow VB365's rule: at least one; Teams with Exchange and SharePoint; chats with Teams")
    func serviceRule() {
        func errors(_ exchange: Bool, _ sharePoint: Bool, _ teams: Bool, _ chats: Bool) -> String? {
            var form = OnboardingForm(extraCount: 0)
            form.organization = "contoso.onmicrosoft.com"
            form.contactName = "Ada"
            form.contactEmail = "ada@contoso.com"
            (form.exchange, form.sharePoint, form.teams, form.teamsChats) = (exchange, sharePoint, teams, chats)
            _ = form.validate()
            return form.errors["services"]
        }
        #expect(errors(true, true, true, true) == nil)
        #expect(errors(true, false, false, false) == nil)
        #expect(errors(false, false, false, false)?.contains("at least one") == true)
        #expect(errors(true, false, true, false)?.contains("Exchange Online and SharePoint Online") == true)
        #expect(errors(true, true, false, true)?.contains("Teams chats") == true)
    }
}
