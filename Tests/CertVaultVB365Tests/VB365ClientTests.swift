import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultPolicy
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging
import Synchronization
import Testing

@Suite("VB365 client against the simulator over TLS on loopback")
struct VB365ClientTests {
    @Test("the whole onboarding call sequence in each API version", arguments: VB365APIVersion.allCases)
    func fullFlow(version: VB365APIVersion) throws {
        let harness = try Harness(version)
        let client = try harness.client()  // version detected
        #expect(try client.apiVersion() == version)
        let instance = try client.serviceInstance()
        #expect(instance.version?.hasPrefix(String(version.rawValue.dropFirst())) == true)
        #expect(try client.organizations().isEmpty)

        let code = try client.createDeviceCode(region: .worldwide)
        #expect(code.userCode.count == 9)
        #expect(code.verificationUrl == "https://microsoft.com/devicelogin")
        #expect(code.expiresIn == 900)
        #expect(code.message.contains(code.userCode))
        #expect(try client.checkDeviceCode(code.userCode) == false)
        harness.simulator.signIn(userCode: code.userCode)
        #expect(try client.checkDeviceCode(code.userCode) == true)

        let credential = try Fixtures.credential()
        let added = try client.addOrganization(Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: credential))
        let id = try #require(added.id)
        #expect(added.officeName == "contoso.onmicrosoft.com")
        #expect(added.type == .office365)
        #expect(added.applicationId != nil)
        #expect(added.applicationCertificateThumbprint == credential.summary.thumbprintSHA1)
        #expect(added.exchangeOnlineSettings?.applicationCertificate == nil, "the certificate is never returned")
        #expect(added.exchangeOnlineSettings?.applicationCertificatePassword == nil, "the password is never returned")
        #expect((added.msid != nil) == (version == .v8))
        let created = harness.simulator.received().last { $0.method == "POST" && $0.path.hasSuffix("/Organizations") }
        #expect(created?.status == (version == .v8 ? 201 : 200))

        let listed = try client.organizations()
        #expect(listed.map(\.id) == [id])
        if version == .v8 {
            #expect(try client.organizations(msid: added.msid).count == 1)
            #expect(try client.organizations(msid: UUID().uuidString).isEmpty)
            #expect(harness.simulator.received().contains { $0.path.contains("msid=") })
        }
        #expect(try client.organization(id: id).officeName == "contoso.onmicrosoft.com")

        // Rotation: PUT with a new certificate answers 204 and VB365 reports the new thumbprint.
        let next = try Fixtures.credential()
        var update = Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: next)
        update.userCode = nil
        update.newApplicationName = nil
        try client.updateOrganization(id: id, update)
        #expect(try client.organization(id: id).applicationCertificateThumbprint == next.summary.thumbprintSHA1)
        #expect(harness.simulator.certificateGenerations(organizationId: id) == 2)
        #expect(harness.simulator.received().contains { $0.method == "PUT" && $0.status == 204 })
    }

    @Test("every exchange with the server, retries included, reaches the observer with its status; no answer is nil")
    func exchangesObserved() throws {
        let harness = try Harness(.v8)
        let client = try harness.client()
        let seen = Mutex<[Int?]>([])
        client.observeExchanges { status in seen.withLock { $0.append(status) } }
        _ = try client.serviceInstance()
        _ = try client.organizations()
        let statuses = seen.withLock { $0 }
        #expect(!statuses.isEmpty)
        #expect(statuses.compactMap { $0 } == harness.simulator.received().map(\.status), "one report per exchange, in order")
        harness.simulator.stop()
        #expect(throws: (any Error).self) { try client.organizations() }
        let after = seen.withLock { $0 }.dropFirst(statuses.count)
        #expect(!after.isEmpty && after.allSatisfy { $0 == nil }, "a server that is gone: each attempt reported without a status")
    }

    @Test("version detection: 401 where served, 404 where not; a configured version is used as given")
    func detection() throws {
        let harness = try Harness(.v6)
        #expect(try harness.client().apiVersion() == .v6)
        let probes = harness.simulator.received().filter { $0.path.hasSuffix("ServiceInstance") }
        #expect(probes.map(\.status) == [404, 404, 401])
        let wrong = try harness.client(version: .v8)
        let error = try #require(throws: VB365Error.self) { try wrong.organizations() }
        #expect(error.status == 404)
        #expect(error.code == .vb365Version, "a version not served is not a wrong password")
        #expect(error.description.contains("does not serve API v8"))
        #expect(error.error.hint?.contains("--api-version") == true)
    }

    @Test("the password grant sends disable_antiforgery_token in v7 and v8 only, and never logs the password",
          arguments: VB365APIVersion.allCases)
    func tokenRequest(version: VB365APIVersion) throws {
        let harness = try Harness(version)
        let capture = CapturingLogHandler()
        let logger = Logger(label: "capture") { _ in capture }
        let client = try harness.client(logger: logger)
        try client.logIn()
        let token = try #require(harness.simulator.received().first { $0.path.hasSuffix("/token") })
        #expect(token.requestContentType == "application/x-www-form-urlencoded")
        #expect(token.requestBody?["grant_type"]?.stringValue == "password")
        #expect(token.requestBody?["username"]?.stringValue == Harness.user)
        #expect(token.requestBody?["disable_antiforgery_token"]?.stringValue == (version == .v6 ? nil : "true"))
        #expect(capture.lines.allSatisfy { !$0.contains(Harness.password) })
    }

    @Test("tokens are refreshed with the refresh grant before they expire, and renewed once after a 401")
    func refresh() throws {
        let harness = try Harness(.v8) { $0.tokenLifetime = 30 }
        let client = try harness.client()  // refresh margin 60 s > 30 s lifetime: every later call refreshes first
        _ = try client.organizations()
        _ = try client.organizations()
        _ = try client.organizations()
        let grants = harness.simulator.received().filter { $0.path.hasSuffix("/token") }.compactMap { $0.requestBody?["grant_type"]?.stringValue }
        #expect(grants == ["password", "refresh_token", "refresh_token"])

        let patient = try harness.client { $0.refreshMargin = 0 }
        _ = try patient.organizations()
        harness.simulator.expireTokens()
        #expect(try patient.organizations().isEmpty)
        let statuses = harness.simulator.received().suffix(3).map { "\($0.method) \($0.path.split(separator: "?")[0]) \($0.status)" }
        #expect(statuses == ["GET /v8/Organizations 401", "POST /v8/token 200", "GET /v8/Organizations 200"])
    }

    @Test("a wrong password is an authentication error that names the account, not the password")
    func wrongPassword() throws {
        let harness = try Harness(.v7)
        let error = try #require(throws: VB365Error.self) { try harness.client(password: "not-the-password").logIn() }
        #expect(error.code == .vb365Authentication)
        #expect(error.status == 400)
        #expect(error.description.contains(Harness.user))
        #expect(!error.description.contains("not-the-password"))
        #expect(error.serverMessage == "Invalid user name or password.")
    }
}

@Suite("VB365 client: trust and transport faults")
struct VB365FaultTests {
    @Test("trust: the right CA passes; the system store alone fails; the right CA with a wrong pin fails; the right pin passes")
    func trust() throws {
        let harness = try Harness()
        #expect(try harness.client(trust: .caFile(harness.caFile)).organizations().isEmpty)
        let system = try #require(throws: VB365Error.self) { try harness.client(trust: .systemStore).apiVersion() }
        #expect(system.code == .httpTLS)
        #expect(system.error.hint?.contains("CA file") == true)
        let wrongPin = "sha256//" + Data(repeating: 1, count: 32).base64EncodedString()
        let pinned = try #require(throws: VB365Error.self) { try harness.client(trust: .pinnedPublicKey(wrongPin, caFile: harness.caFile)).apiVersion() }
        #expect(pinned.code == .httpTLS)
        #expect(pinned.error.hint?.contains("pin") == true)
        let pin = harness.simulator.identity!.publicKeyPin
        #expect(try harness.client(trust: .pinnedPublicKey(pin, caFile: harness.caFile)).apiVersion() == .v8)
    }

    @Test("verification off works only as asked, and warns on every request")
    func insecure() throws {
        let harness = try Harness()
        let capture = CapturingLogHandler()
        let client = try harness.client(trust: .insecureNoVerification, logger: Logger(label: "capture") { _ in capture })
        _ = try client.organizations()
        let warnings = capture.lines.filter { $0.contains("TLS verification is OFF") }
        #expect(warnings.count == harness.simulator.received().count)
        #expect(warnings.count >= 2)
    }

    @Test("a 500 on an idempotent call is retried and then succeeds")
    func retriedGet() throws {
        let harness = try Harness()
        let client = try harness.client()
        try client.logIn()
        harness.simulator.failNext("GET Organizations", status: 500)
        harness.simulator.failNext("GET Organizations", status: 503)
        #expect(try client.organizations().isEmpty)
        #expect(harness.count("GET", "/Organizations") == 3)
    }

    @Test("retries stop after the configured attempts and surface the last answer")
    func retriesExhausted() throws {
        let harness = try Harness()
        let client = try harness.client()
        try client.logIn()
        harness.simulator.failNext("GET Organizations", status: 502, count: 5)
        let error = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(error.status == 502)
        #expect(harness.count("GET", "/Organizations") == 3)
    }

    @Test("POST Organizations is never repeated: a 503 surfaces at once, flagged as an unknown outcome")
    func postNotRetried() throws {
        let harness = try Harness(.v6)
        let client = try harness.client()
        let code = try harness.signedInCode(client)
        harness.simulator.failNext("POST Organizations", status: 503)
        let error = try #require(throws: VB365Error.self) {
            try client.addOrganization(Fixtures.organization("fabrikam.onmicrosoft.com", code: code, credential: try Fixtures.credential()))
        }
        #expect(error.status == 503)
        #expect(error.outcomeUnknown)
        #expect(harness.count("POST", "/Organizations") == 1)
    }

    @Test("a connection dropped after VB365 added the organization: one POST, outcome unknown, the organization is there")
    func droppedAfterProcessing() throws {
        for truncate in [false, true] {
            let harness = try Harness(.v8)
            let client = try harness.client()
            let code = try harness.signedInCode(client)
            harness.simulator.dropAfterProcessing("POST Organizations", truncate: truncate)
            let error = try #require(throws: VB365Error.self) {
                try client.addOrganization(Fixtures.organization("northwind.onmicrosoft.com", code: code, credential: try Fixtures.credential()))
            }
            #expect(error.outcomeUnknown, "truncate: \(truncate)")
            #expect(error.code == .httpTransport)
            #expect(harness.count("POST", "/Organizations") == 1)
            #expect(try client.organizations().map(\.officeName) == ["northwind.onmicrosoft.com"])
        }
    }

    @Test("a 400 with RESTExceptionInfo surfaces the server's message and code")
    func restException() throws {
        let harness = try Harness(.v8)
        let client = try harness.client()
        let code = try client.createDeviceCode(region: .worldwide)  // never signed in
        let error = try #require(throws: VB365Error.self) {
            try client.addOrganization(Fixtures.organization("contoso.onmicrosoft.com", code: code.userCode, credential: try Fixtures.credential()))
        }
        #expect(error.code == .vb365Rejected)
        #expect(error.status == 400)
        #expect(error.errorCode == "ParameterValidationFailure")
        #expect(error.serverMessage?.contains("has not been used to sign in") == true)
        #expect(error.description.contains("HTTP 400"))
        #expect(!error.outcomeUnknown)
    }

    @Test("a server slower than the timeout is a transport error with a hint")
    func timeout() throws {
        let harness = try Harness()
        // 2 s for the login (a TLS handshake and a token on a loaded 2-core machine), 10 s of delay.
        let client = try harness.client { $0.http.totalTimeout = 2; $0.retry = .none }
        try client.logIn()
        harness.simulator.delay("GET Organizations", seconds: 10)
        let error = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(error.code == .httpTransport)
        #expect(error.error.hint?.contains("did not answer in time") == true)
    }

    @Test("malformed JSON and oversized answers are clear errors")
    func badBodies() throws {
        let harness = try Harness(.v7)
        let client = try harness.client { $0.http.maximumResponseBytes = 100_000; $0.retry = .none }
        try client.logIn()
        harness.simulator.corruptNext("GET Organizations")
        let malformed = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(malformed.code == .vb365Protocol)
        #expect(malformed.error.underlying == "not JSON")
        harness.simulator.corruptNext("GET Organizations", oversized: 200_000)
        let oversized = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(oversized.code == .httpTransport)
        #expect(oversized.error.reason.contains("larger than 100000 bytes"))
    }

    @Test("nothing listening: a connect error that says what to check")
    func nothingListening() throws {
        let client = try VB365Client(configuration: .init(serverURL: "https://127.0.0.1:1", version: .v8, username: "x",
                                                          retry: .init(maximumAttempts: 2, baseDelay: 0.01)),
                                     password: Fixtures.secret("x"), logger: Fixtures.logger)
        let error = try #require(throws: VB365Error.self) { try client.organizations() }
        #expect(error.code == .httpConnect)
        #expect(error.error.hint?.contains("4443") == true)
    }

    @Test("async callers run the blocking calls on the client's own threads")
    func asyncPerform() async throws {
        let harness = try Harness()
        let client = try harness.client()
        let codes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await client.perform { try $0.createDeviceCode(region: .germany).userCode } } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(codes.count == 8)
    }
}

@Suite("VB365 simulator: validation as the real server's schema and checks")
struct VB365SimulatorValidationTests {
    @Test("wrong type, region mismatch, unknown, expired and reused codes are refused with RESTExceptionInfo")
    func refusals() throws {
        let harness = try Harness(.v8)
        let client = try harness.client()
        let credential = try Fixtures.credential()
        func refused(_ organization: VB365Organization) throws -> String {
            let error = try #require(throws: VB365Error.self) { try client.addOrganization(organization) }
            #expect(error.status == 400)
            return error.serverMessage ?? ""
        }
        let code = try harness.signedInCode(client, region: .germany)
        #expect(try refused(Fixtures.organization("a.onmicrosoft.com", code: code, credential: credential)).contains("issued for region Germany"))
        var onPremises = Fixtures.organization("a.onmicrosoft.com", code: code, credential: credential, region: .germany)
        onPremises.type = .onPremises
        #expect(try refused(onPremises).contains("type must be Office365"))
        #expect(try refused(Fixtures.organization("a.onmicrosoft.com", code: "NOSUCHCODE", credential: credential)).contains("not known"))
        _ = try client.addOrganization(Fixtures.organization("a.onmicrosoft.com", code: code, credential: credential, region: .germany))
        #expect(try refused(Fixtures.organization("b.onmicrosoft.com", code: code, credential: credential, region: .germany)).contains("already been used"))
        let again = try harness.signedInCode(client)
        #expect(try refused(Fixtures.organization("A.onmicrosoft.com", code: again, credential: credential)).contains("already been added"))
        harness.simulator.expireDeviceCodes()
        #expect(try refused(Fixtures.organization("c.onmicrosoft.com", code: again, credential: credential)).contains("expired"))
    }

    @Test("the PFX is opened: a wrong password, a 1024-bit key (made by the openssl CLI) and a foreign key are refused")
    func certificateChecks() throws {
        let harness = try Harness(.v6)
        let client = try harness.client()
        let credential = try Fixtures.credential()
        var wrong = Fixtures.organization("x.onmicrosoft.com", code: try harness.signedInCode(client), credential: credential)
        wrong.exchangeOnlineSettings?.applicationCertificatePassword = VB365Secret(Fixtures.secret("wrong"))
        wrong.sharePointOnlineSettings?.applicationCertificatePassword = VB365Secret(Fixtures.secret("wrong"))
        let error = try #require(throws: VB365Error.self) { try client.addOrganization(wrong) }
        #expect(error.serverMessage?.contains("password is not correct") == true)

        guard ExternalTool.openssl.isAvailable else { return }
        let dir = try TemporaryDirectory()
        let made = try ExternalTool.openssl.run([
            "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", dir.file("k.pem"), "-out", dir.file("c.pem"), "-days", "2", "-subj", "/CN=weak",
        ])
        #expect(made.status == 0)
        let exported = try ExternalTool.openssl.run([
            "pkcs12", "-export", "-inkey", dir.file("k.pem"), "-in", dir.file("c.pem"), "-out", dir.file("w.pfx"), "-passout", "pass:weakpass",
        ])
        #expect(exported.status == 0)
        let weakPFX = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.file("w.pfx"))))
        var weak = VB365Organization.newOffice365(officeName: "y.onmicrosoft.com", region: .worldwide, userCode: try harness.signedInCode(client),
                                                  applicationName: "weak", certificateBase64: Data(weakPFX).base64EncodedString(),
                                                  password: Fixtures.secret("weakpass"))
        weak.isTeamsOnline = false
        let weakError = try #require(throws: VB365Error.self) { try client.addOrganization(weak) }
        #expect(weakError.serverMessage?.contains("1024 bits; at least 2048") == true)
    }

    @Test("Windows Server 2016 mode refuses an AES PFX with Windows' misleading password message and takes a 3DES one")
    func server2016() throws {
        let harness = try Harness(.v8) { $0.windowsServer2016 = true }
        let client = try harness.client()
        let modern = try Fixtures.credential(profile: .modern)
        let error = try #require(throws: VB365Error.self) {
            try client.addOrganization(Fixtures.organization("m.onmicrosoft.com", code: try harness.signedInCode(client), credential: modern))
        }
        #expect(error.serverMessage?.contains("The specified network password is not correct") == true)
        let compat = try Fixtures.credential(profile: .compat)
        _ = try client.addOrganization(Fixtures.organization("m.onmicrosoft.com", code: try harness.signedInCode(client), credential: compat))
    }

    @Test("what the simulator records has the secrets redacted")
    func redaction() throws {
        let harness = try Harness(.v8)
        let client = try harness.client()
        let credential = try Fixtures.credential()
        _ = try client.addOrganization(Fixtures.organization("r.onmicrosoft.com", code: try harness.signedInCode(client), credential: credential))
        let text = String(decoding: try JSONEncoder().encode(harness.simulator.received()), as: UTF8.self)
        let password = credential.password.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(!text.contains(password))
        #expect(!text.contains(Harness.password))
        #expect(!text.contains(String(credential.pfxBase64.prefix(40))))
        #expect(text.contains("<redacted>"))
    }

    @Test("the control surface over HTTP: sign in, faults, request list")
    func controlOverHTTP() throws {
        let harness = try Harness(.v8)
        let client = try harness.client()
        let code = try client.createDeviceCode(region: .worldwide)
        let http = try HTTPClient(configuration: .init(trust: .caFile(harness.caFile)), logger: Fixtures.logger)
        func post(_ path: String, _ json: String) throws -> Int {
            try http.send(HTTPRequest(method: "POST", url: harness.simulator.baseURL + path, headers: [("Content-Type", "application/json")],
                                      body: Array(json.utf8))).status
        }
        #expect(try post("/_simulator/sign-in", #"{"userCode":"\#(code.userCode)"}"#) == 200)
        #expect(try client.checkDeviceCode(code.userCode))
        #expect(try post("/_simulator/sign-in", #"{"userCode":"NOPE"}"#) == 404)
        #expect(try post("/_simulator/faults", #"{"endpoint":"POST DeviceCode/check","status":429,"count":1}"#) == 200)
        #expect(try client.checkDeviceCode(code.userCode))
        #expect(harness.simulator.received().filter { $0.path.hasSuffix("check") }.map(\.status) == [200, 429, 200])
        let listed = try http.send(HTTPRequest(url: harness.simulator.baseURL + "/_simulator/requests"))
        #expect(listed.status == 200)
        #expect(String(decoding: listed.body, as: UTF8.self).contains("DeviceCode"))
    }
}

@Suite("VB365 models and simulator odds and ends")
struct VB365OddsAndEnds {
    @Test("error bodies: RESTExceptionInfo with an errorCode outside the spec's enum, and OAuth-style token errors")
    func errorBodies() throws {
        let rest = try JSONDecoder().decode(VB365ErrorBody.self, from: Data(#"{"message":"Boom","errorCode":"SomethingNew","stackTrace":null}"#.utf8))
        #expect(rest.text == "Boom")
        #expect(rest.errorCode == "SomethingNew", "errorCode is an open set")
        let oauth = try JSONDecoder().decode(VB365ErrorBody.self, from: Data(#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#.utf8))
        #expect(oauth.text == "The user name or password is incorrect.")
        #expect(oauth.error == "invalid_grant")
    }

    @Test("a simulator with a store file keeps its organizations across a restart")
    func storeFile() throws {
        let dir = try TemporaryDirectory()
        let store = dir.file("organizations.json")
        let id: String
        do {
            let harness = try Harness(.v8) { $0.storeFile = store }
            let client = try harness.client()
            let code = try harness.signedInCode(client)
            id = try #require(try client.addOrganization(Fixtures.organization("kept.onmicrosoft.com", code: code, credential: try Fixtures.credential())).id)
        }
        #expect(try TemporaryDirectory.mode(store) == 0o600)
        let again = try Harness(.v8) { $0.storeFile = store }
        #expect(try again.client().organization(id: id).officeName == "kept.onmicrosoft.com")
    }

    @Test("the loopback test for plain HTTP is strict", arguments: [
        ("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true), ("[::1]", true),
        ("127.evil.example", false), ("128.0.0.1", false), ("::2", false), ("example.com", false),
    ])
    func loopback(host: String, expected: Bool) throws {
        let client = try HTTPClient(configuration: .init(allowPlainHTTPToLoopback: true), logger: Fixtures.logger)
        let error = try? #require(throws: CertVaultError.self) {
            try client.send(HTTPRequest(url: "http://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):1/"))
        }
        // Allowed hosts fail to connect (nothing listens on port 1); refused ones fail the URL check.
        #expect((error?.code == .httpURL) == !expected, "\(host)")
    }
}
