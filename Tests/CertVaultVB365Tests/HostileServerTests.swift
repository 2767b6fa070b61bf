import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// The simulator turned hostile through its control surface: numbers out of range, endless
/// pages, control characters, echoed secrets, a phishing verification URL. The client must end
/// each with a clear error (or clean text), never a trap, a hang or unbounded memory.
@Suite("VB365 client against a hostile server")
struct HostileServerTests {
    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func deviceCode(expiresIn: String = "900", userCode: String = "GA6KZ8P3N", url: String = "https://microsoft.com/devicelogin",
                           message: String = "Sign in") -> [UInt8] {
        json(#"{"userCode":"\#(userCode)","verificationUrl":"\#(url)","expiresIn":\#(expiresIn),"message":"\#(message)"}"#)
    }

    @Test("an expiresIn of centuries, a negative one, or one beyond Int is a protocol error naming the field", arguments: [
        "9223372036854775807", "-100000000000", "1e300", "0", "86401",
    ])
    func deviceCodeLifetime(value: String) throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        harness.simulator.respondNext("POST DeviceCode", status: 200, body: Self.deviceCode(expiresIn: value))
        let error = try #require(throws: VB365Error.self) { try client.createDeviceCode(region: .worldwide) }
        #expect(error.code == .vb365Protocol)
        #expect(error.description.contains("expiresIn"), "\(error.description)")
    }

    @Test("a token lifetime out of range is a protocol error naming expires_in", arguments: ["9223372036854775807", "-1", "0"])
    func tokenLifetime(value: String) throws {
        let harness = try Harness(.v7)
        let client = try harness.client { $0.retry = .none }
        harness.simulator.respondNext("POST token", status: 200, body: Self.json(
            #"{"access_token":"a","refresh_token":"r","token_type":"bearer","expires_in":\#(value),"userName":"u",".issued":"x",".expires":"y"}"#))
        let error = try #require(throws: VB365Error.self) { try client.logIn() }
        #expect(error.code == .vb365Protocol)
        #expect(error.description.contains("expires_in"), "\(error.description)")
    }

    @Test("a page with a negative offset or a huge limit is a protocol error naming the field")
    func pageNumbers() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        try client.logIn()
        harness.simulator.respondNext("GET Organizations", status: 200, body: Self.json(#"{"offset":-5,"limit":100,"results":[]}"#))
        let negative = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(negative.description.contains("'offset'"), "\(negative.description)")
        harness.simulator.respondNext("GET Organizations", status: 200, body: Self.json(#"{"offset":0,"limit":9223372036854775807,"results":[]}"#))
        let huge = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(huge.description.contains("'limit'"), "\(huge.description)")
    }

    @Test("endless full pages stop at the page bound; a repeated page stops at once")
    func endlessPages() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.maximumPages = 25 }
        try client.logIn()
        harness.simulator.endlessPages(repeating: false)
        let endless = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(endless.code == .vb365Protocol)
        #expect(endless.description.contains("more than 25 full pages"), "\(endless.description)")
        #expect(harness.count("GET", "/Organizations") == 25)

        let again = try Harness(.v8)
        let repeating = try again.client()  // default bounds
        try repeating.logIn()
        again.simulator.endlessPages(repeating: true)
        let repeated = try #require(throws: VB365Error.self) { try repeating.organizations() }
        #expect(repeated.code == .vb365Protocol)
        #expect(repeated.description.contains("paging does not advance"), "\(repeated.description)")
        #expect(again.count("GET", "/Organizations") == 2)
    }

    @Test("the organization bound holds for v6/v7 arrays too")
    func arrayBound() throws {
        let harness = try Harness(.v7)
        let client = try harness.client { $0.maximumOrganizations = 3 }
        try client.logIn()
        let list = (0..<4).map { #"{"id":"i\#($0)","name":"n\#($0)"}"# }.joined(separator: ",")
        harness.simulator.respondNext("GET Organizations", status: 200, body: Self.json("[\(list)]"))
        let error = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(error.description.contains("more than 3 organizations"))
    }

    @Test("control characters in an error message and errorCode are escaped; a long message is cut short")
    func escapedErrors() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        try client.logIn()
        let hostile = #"\u001b]0;pwned\u0007\u001b[2J\rFAKE OK\u009b31m"# + String(repeating: "x", count: 5000)
        harness.simulator.respondNext("GET Organizations", status: 400, body: Self.json(#"{"message":"\#(hostile)","errorCode":"Bad\u001b[1m"}"#))
        let error = try #require(throws: VB365Error.self) { try client.organizations() }
        let shown = [error.description, error.serverMessage ?? "", error.errorCode ?? ""]
        for text in shown {
            #expect(!text.unicodeScalars.contains { DisplayText.needsEscape($0) && $0 != "\n" }, "\(text.debugDescription.prefix(200))")
        }
        #expect(error.serverMessage?.hasPrefix(#"\u{1B}]0;pwned\u{07}"#) == true)
        #expect(try #require(error.serverMessage).unicodeScalars.count <= VB365Limits.serverText + 1)
        #expect(error.errorCode == #"Bad\u{1B}[1m"#)
    }

    @Test("shown strings from successful answers: the device-code message and the server version are escaped; a user code with markup is refused")
    func escapedSuccesses() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        harness.simulator.respondNext("POST DeviceCode", status: 200, body: Self.deviceCode(message: #"Open\u001b]8;;https://evil.example\u0007 here"#))
        let code = try client.createDeviceCode(region: .worldwide)
        #expect(code.message == #"Open\u{1B}]8;;https://evil.example\u{07} here"#)
        harness.simulator.respondNext("POST DeviceCode", status: 200, body: Self.deviceCode(userCode: #"AB\u001b[2JCD"#))
        let markup = try #require(throws: VB365Error.self) { try client.createDeviceCode(region: .worldwide) }
        #expect(markup.code == .vb365Protocol)
        #expect(markup.description.contains("userCode"))
        #expect(!markup.description.unicodeScalars.contains { $0 == "\u{1B}" })
        harness.simulator.respondNext("GET ServiceInstance", status: 200, body: Self.json(#"{"installationId":"i","version":"8.1\u001b[31m"}"#))
        #expect(try client.serviceInstance().version == #"8.1\u{1B}[31m"#)
    }

    @Test("organization names from the server are escaped before anyone sees them")
    func organizationNames() throws {
        let harness = try Harness(.v7)
        let client = try harness.client { $0.retry = .none }
        try client.logIn()
        harness.simulator.respondNext("GET Organizations", status: 200,
                                      body: Self.json(#"[{"id":"1","name":"Evil\u001b]0;x\u0007","officeName":"evil\u009b2J.onmicrosoft.com"}]"#))
        let listed = try #require(try client.organizations().first)
        #expect(listed.name == #"Evil\u{1B}]0;x\u{07}"#)
        #expect(listed.officeName == #"evil\u{009B}2J.onmicrosoft.com"#)
    }

    @Test("a server that echoes the request: no PFX password, no PFX, no VB365 password, no token in what is kept or shown")
    func echoedSecrets() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        let credential = try Fixtures.credential()
        let code = try harness.signedInCode(client)
        harness.simulator.echoRequestNext("POST Organizations")
        let error = try #require(throws: VB365Error.self) {
            try client.addOrganization(Fixtures.organization("echo.onmicrosoft.com", code: code, credential: credential))
        }
        let pfxPassword = credential.password.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        let kept = [error.description, error.serverMessage ?? "", error.error.hint ?? ""].joined(separator: "\n")
        #expect(error.serverMessage?.contains("echo.onmicrosoft.com") == true, "the rest of the message stays")
        #expect(!kept.contains(pfxPassword))
        #expect(!kept.contains(String(credential.pfxBase64.prefix(24))))
        #expect(!kept.contains(String(credential.pfxBase64.suffix(24))))
        #expect(kept.contains("<redacted>"))

        harness.simulator.echoRequestNext("POST token")
        let login = try #require(throws: VB365Error.self) { try harness.client { $0.retry = .none }.logIn() }
        let said = login.description + (login.serverMessage ?? "")
        #expect(!said.contains(Harness.password))
        #expect(!said.contains(VB365ClientFormEncoding.encode(Harness.password)), "the form-encoded password")
        #expect(said.contains("<redacted>"))
    }

    @Test("verificationUrl: only https on Microsoft's device-login hosts for the region; the list can be replaced", arguments: [
        ("https://microsoft.com/devicelogin", VB365Region.worldwide, true),
        ("https://login.microsoftonline.com/common/oauth2/deviceauth", .worldwide, true),
        ("https://microsoft.com/deviceloginus", .usGovernment, true),
        ("https://login.microsoftonline.us/common/oauth2/deviceauth", .usDefence, true),
        ("https://microsoft.com/deviceloginchina", .china, true),
        ("https://login.chinacloudapi.cn/common/oauth2/deviceauth", .china, true),
        ("https://login.microsoftonline.de/common/oauth2/deviceauth", .germany, true),
        ("http://microsoft.com/devicelogin", .worldwide, false),
        ("https://microsoft.com.evil.example/devicelogin", .worldwide, false),
        ("https://evil.example/microsoft.com/devicelogin", .worldwide, false),
        ("https://microsoft.com@evil.example/devicelogin", .worldwide, false),
        ("https://microsoft.com/deviceloginevil", .worldwide, false),
        ("https://microsoft.com/", .worldwide, false),
        ("https://microsoft.com:8443/devicelogin", .worldwide, false),
        ("https://login.chinacloudapi.cn/common/oauth2/deviceauth", .worldwide, false),
        ("https://microsoft.com/deviceloginchina", .worldwide, false),
    ])
    func verificationURL(url: String, region: VB365Region, allowed: Bool) throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none }
        harness.simulator.respondNext("POST DeviceCode", status: 200, body: Self.deviceCode(url: url))
        if allowed {
            #expect(try client.createDeviceCode(region: region).verificationUrl == url)
        } else {
            let error = try #require(throws: VB365Error.self) { try client.createDeviceCode(region: region) }
            #expect(error.code == .vb365Protocol)
            #expect(error.description.contains("not one of Microsoft's device-login pages"))
            #expect(error.error.hint?.contains("--verification-hosts") == true)
        }
    }

    @Test("a cloud not known here: --verification-hosts replaces the list")
    func verificationOverride() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.verificationHosts = ["login.sovereign.example/device"]; $0.retry = .none }
        harness.simulator.respondNext("POST DeviceCode", status: 200, body: Self.deviceCode(url: "https://login.sovereign.example/device"))
        #expect(try client.createDeviceCode(region: .worldwide).verificationUrl == "https://login.sovereign.example/device")
        let refused = try #require(throws: VB365Error.self) { try client.createDeviceCode(region: .worldwide) }  // the simulator's own URL
        #expect(refused.code == .vb365Protocol)
    }

    @Test("the simulator's verification URL passes the check in every region", arguments: VB365Region.allCases)
    func simulatorURLs(region: VB365Region) throws {
        let harness = try Harness(.v8)
        let code = try harness.client().createDeviceCode(region: region)
        #expect(code.verificationUrl.hasPrefix("https://microsoft.com/devicelogin"))
    }

    @Test("through the control surface over HTTP too: raw answers, echo and endless pages")
    func controlSurface() throws {
        let harness = try Harness(.v8)
        let client = try harness.client { $0.retry = .none; $0.maximumPages = 5 }
        let http = try HTTPClient(configuration: .init(trust: .caFile(harness.caFile)), logger: Fixtures.logger)
        func post(_ json: String) throws -> Int {
            try http.send(HTTPRequest(method: "POST", url: harness.simulator.baseURL + "/_simulator/faults",
                                      headers: [("Content-Type", "application/json")], body: Array(json.utf8))).status
        }
        #expect(try post(#"{"endpoint":"POST DeviceCode","respond":{"status":200,"body":"{\"userCode\":\"ABCD1234\",\"verificationUrl\":\"https://microsoft.com/devicelogin\",\"expiresIn\":-1,\"message\":\"m\"}"}}"#) == 200)
        #expect(throws: VB365Error.self) { try client.createDeviceCode(region: .worldwide) }
        #expect(try post(#"{"endpoint":"GET Organizations","action":"endless-pages"}"#) == 200)
        let endless = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(endless.description.contains("more than 5 full pages"))
    }
}

/// The form encoding the client uses for the token call, for assertions.
enum VB365ClientFormEncoding {
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

@Suite("VB365 request bodies in secure memory")
struct SecretBodyTests {
    @Test("the Organizations body is assembled in secure memory: the encoder sees a placeholder, the body decodes to the password", arguments: [
        "plain-Password1", #"quote" back\slash"#, "tab\tnew\nline", "ünïcødé ✓",
    ])
    func organizationBody(password: String) throws {
        let organization = VB365Organization.newOffice365(officeName: "x.onmicrosoft.com", region: .worldwide, userCode: "ABCD1234",
                                                          applicationName: "app", certificateBase64: "TUlJ", password: Fixtures.secret(password))
        // What JSONEncoder produces with the collector: no password anywhere.
        let collector = VB365SecretCollector()
        let encoder = JSONEncoder()
        encoder.userInfo[VB365SecretCollector.key] = collector
        let skeleton = String(decoding: try encoder.encode(organization), as: UTF8.self)
        #expect(!skeleton.contains(password))
        #expect(skeleton.contains("@@certvault-secret-0-"))
        // The assembled body is valid JSON that carries the password exactly.
        let body = try VB365JSONBody.encode(organization)
        let bytes = body.withUnsafeBytes { Array($0) }
        let decoded = try JSONDecoder().decode(VB365Organization.self, from: Data(bytes))
        let sent = try #require(decoded.exchangeOnlineSettings?.applicationCertificatePassword)
        #expect(sent.bytes == Fixtures.secret(password))
        #expect(decoded.sharePointOnlineSettings?.applicationCertificatePassword?.bytes == Fixtures.secret(password))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("@@certvault-secret"))
    }

    @Test("server text: secrets redacted as sent (raw, JSON-escaped, form-encoded), long base64 collapsed, controls escaped")
    func serverText() {
        let cleaner = VB365ServerText(secrets: [Fixtures.secret(#"p"w&d=1"#)], strings: ["tok-123456"])
        let base64 = String(repeating: "QUJD", count: 40)
        let text = #"got p"w&d=1 and p\"w&d=1 and p%22w%26d%3D1 and tok-123456 and "# + base64 + "\u{1B}[2J"
        let clean = cleaner.clean(text, limit: 500)
        #expect(clean == #"got <redacted> and <redacted> and <redacted> and <redacted> and <base64, 160 characters>\u{1B}[2J"#)
        #expect(cleaner.clean(String(repeating: "a b ", count: 300), limit: 10) == "a b a b a …")
    }
}
