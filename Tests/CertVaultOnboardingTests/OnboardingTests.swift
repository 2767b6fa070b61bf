import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultTesting
import CertVaultVault
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Logging
import Testing

/// A simulator, a vault with a key file, an onboarding folder: all fresh, all on loopback.
final class World: @unchecked Sendable {
    static let user = "VB365\\operator"
    static let password = "onboarding-test-password"
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    let simulator: VB365Simulator
    let dir: TemporaryDirectory
    let caFile: String
    var profile: IssuancePolicy.PKCS12Profile = .compat

    init(_ version: VB365APIVersion = .v8, _ change: (inout VB365Simulator.Configuration) -> Void = { _ in }) throws {
        var configuration = VB365Simulator.Configuration(version: version, users: [Self.user: Self.password])
        change(&configuration)
        simulator = try VB365Simulator(configuration: configuration)
        try simulator.start()
        dir = try TemporaryDirectory()
        caFile = try dir.write("ca.pem", simulator.identity!.certificatePEM)
        _ = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("key/root.key")))
    }

    deinit { simulator.stop() }

    func vault() throws -> Vault { try Vault.open(at: dir.file("vault"), unlock: .keyFile(path: dir.file("key/root.key"))) }

    /// A new workflow object, as a new process would make it.
    func onboarding() throws -> Onboarding {
        let client = try VB365Client(configuration: .init(serverURL: simulator.baseURL, username: Self.user,
                                                          http: .init(trust: .caFile(caFile), connectTimeout: 5, totalTimeout: 10),
                                                          retry: .init(maximumAttempts: 3, baseDelay: 0.01, maximumDelay: 0.05)),
                                     password: Array(Self.password.utf8).withUnsafeBytes { SecretBytes(copying: $0) }, logger: Self.logger)
        var policy = try PolicyLoader.load(path: TestEnvironment.policy("default"))
        policy.pkcs12.profile = profile
        let onboarding = Onboarding(client: client, vault: try vault(), store: try OnboardingStore(folder: dir.file("onboarding")),
                                    issuer: Issuer(policy: policy, logger: Self.logger), logger: Self.logger)
        onboarding.pollInterval = 0.1
        return onboarding
    }

    func intake(_ tenant: String, region: VB365Region = .worldwide) throws -> OnboardingRecord.Intake {
        OnboardingRecord.Intake(tenant: try TenantID(tenant), displayName: tenant.capitalized, officeName: "\(tenant).onmicrosoft.com", region: region)
    }

    /// Start with the certificate issued beside it, as the CLI does.
    func start(_ tenant: String, region: VB365Region = .worldwide) throws -> OnboardingRecord {
        try onboarding().startIssuingMeanwhile(try intake(tenant, region: region))
    }

    func posts() -> Int { simulator.received().filter { $0.method == "POST" && $0.path.lowercased().hasSuffix("/organizations") }.count }
}

@Suite("Onboarding workflow against the simulator over TLS")
struct OnboardingTests {
    @Test("start, pause, simulated sign-in, resume: the organization is added with our PFX and the ids go into the vault",
          arguments: [VB365APIVersion.v6, .v8])
    func endToEnd(version: VB365APIVersion) throws {
        let world = try World(version)
        let started = try world.start("contoso")
        #expect(started.state == .awaitingCustomer)
        #expect(started.userCode?.count == 9)
        #expect(started.verificationUrl == "https://microsoft.com/devicelogin")

        // Not signed in yet: resume leaves it paused and sends no POST.
        #expect(try world.onboarding().resume(try TenantID("contoso")).state == .awaitingCustomer)
        #expect(world.posts() == 0)

        world.simulator.signIn(userCode: try #require(started.userCode))
        let done = try world.onboarding().resume(try TenantID("contoso"))  // a new object: as after a restart
        #expect(done.state == .onboarded)
        #expect(world.posts() == 1)
        let organization = try #require(world.simulator.storedOrganizations().first)
        #expect(done.organizationId == organization.id)
        #expect(done.applicationId == organization.applicationId)
        #expect(done.msid == organization.msid)
        #expect((done.msid != nil) == (version == .v8))

        // The vault knows the ids; the restore credential is what VB365 was given.
        let vault = try world.vault()
        let entry = try vault.summary(tenant: try TenantID("contoso"), generation: try #require(done.generation))
        #expect(entry.metadata.vb365OrganizationID == organization.id)
        #expect(entry.metadata.applicationID == organization.applicationId)
        #expect(entry.metadata.onboardingState == "onboarded")
        let store = try OnboardingStore(folder: world.dir.file("onboarding"))
        let credential = try RestoreCredential.retrieve(vault: vault, record: try store.load(try TenantID("contoso")), tenant: try TenantID("contoso"), purpose: "test")
        #expect(credential.applicationId == organization.applicationId)
        #expect(credential.matchesVB365)
        let opened = try PKCS12Contents(pfx: credential.pfx, password: credential.password)
        #expect(opened.thumbprintSHA1 == organization.applicationCertificateThumbprint, "the simulator opened the same PFX with the same password")
        #expect(credential.warnings.isEmpty)
    }

    @Test("the body VB365 receives: both settings objects with app-only auth, userCode, application name, Office365, region")
    func requestBody() throws {
        let world = try World(.v7)
        let started = try world.start("fabrikam", region: .germany)
        world.simulator.signIn(userCode: started.userCode!)
        _ = try world.onboarding().resume(try TenantID("fabrikam"))
        let post = try #require(world.simulator.received().first { $0.method == "POST" && $0.path.hasSuffix("/Organizations") })
        let body = try #require(post.requestBody)
        #expect(body["type"]?.stringValue == "Office365")
        #expect(body["region"]?.stringValue == "Germany")
        #expect(body["userCode"]?.stringValue == started.userCode)
        #expect(body["newApplicationName"]?.stringValue == "certvault fabrikam")
        for settings in ["exchangeOnlineSettings", "sharePointOnlineSettings"] {
            #expect(body[settings]?["useApplicationOnlyAuth"] == .bool(true))
            #expect(body[settings]?["applicationCertificatePassword"]?.stringValue == "<redacted>")
            #expect(body[settings]?["applicationCertificate"]?.stringValue?.hasPrefix("<pfx, ") == true)
        }
    }

    @Test("the code expires while paused; renew-code gives a new one and the tenant still gets onboarded")
    func expiryAndRenewal() throws {
        let world = try World(.v8)
        let tenant = try TenantID("contoso")
        let first = try world.start("contoso")
        world.simulator.expireDeviceCodes()  // VB365 says so before the record's own clock does
        #expect(try world.onboarding().resume(tenant).state == .expired)
        let renewed = try world.onboarding().renewCode(tenant)
        #expect(renewed.state == .awaitingCustomer)
        #expect(renewed.userCode != first.userCode)
        #expect(first.generation == 1, "the certificate issued beside the code is in the record")
        #expect(renewed.generation == 1, "the certificate is kept across a renewal")
        world.simulator.signIn(userCode: renewed.userCode!)
        #expect(try world.onboarding().resume(tenant).state == .onboarded)
    }

    @Test("the customer never signs in: waiting gives up, the record stays paused, nothing is posted")
    func neverSignsIn() throws {
        let world = try World()
        _ = try world.start("contoso")
        let started = Date()
        let record = try world.onboarding().resume(try TenantID("contoso"), wait: .poll(seconds: 0.8))
        #expect(record.state == .awaitingCustomer)
        #expect(Date().timeIntervalSince(started) >= 0.7)
        #expect(world.simulator.received().filter { $0.path.hasSuffix("/check") }.count >= 3)
        #expect(world.posts() == 0)
    }

    @Test("waiting polls until the customer signs in, then adds")
    func waitUntilSignedIn() throws {
        let world = try World(.v8) { $0.signInAfter = 0.5 }
        _ = try world.start("contoso")
        #expect(try world.onboarding().resume(try TenantID("contoso"), wait: .poll(seconds: 10)).state == .onboarded)
    }

    @Test("an add whose answer is lost is found through GET: one POST, one organization, ids recorded")
    func ambiguousAdd() throws {
        let world = try World(.v8)
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        world.simulator.dropAfterProcessing("POST Organizations")
        let record = try world.onboarding().resume(try TenantID("contoso"))
        #expect(record.state == .onboarded)
        #expect(world.posts() == 1)
        #expect(world.simulator.storedOrganizations().count == 1)
        #expect(record.organizationId == world.simulator.storedOrganizations()[0].id)
        #expect(record.history.last?.note.contains("ambiguous") == true)
    }

    @Test("an add refused with 503 is not in VB365: not sent again within the grace period, then sent once more")
    func graceBeforeRepost() throws {
        let world = try World(.v8)
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        world.simulator.failNext("POST Organizations", status: 503)
        let first = try #require(throws: VB365Error.self) { try world.onboarding().resume(tenant) }
        #expect(first.outcomeUnknown)
        let early = try #require(throws: VB365Error.self) { try world.onboarding().resume(tenant) }
        #expect(early.outcomeUnknown)
        // The hint says when a resend is allowed: 180 s after the first add, as a UTC time.
        let hint = try #require(early.error.hint)
        #expect(hint.contains(" or later"))
        #expect(hint.range(of: #"at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ or later"#, options: .regularExpression) != nil, "\(hint)")
        #expect(world.posts() == 1, "not sent again so soon")
        let later = try world.onboarding()
        later.repostGrace = 0
        #expect(try later.resume(tenant).state == .onboarded)
        #expect(world.posts() == 2)
        #expect(world.simulator.storedOrganizations().count == 1)
    }

    @Test("a 2xx answer that cannot be read is an unknown outcome: the lookup finds the organization")
    func unreadableSuccess() throws {
        let world = try World(.v6)
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        world.simulator.corruptNext("POST Organizations")
        let record = try world.onboarding().resume(try TenantID("contoso"))
        #expect(record.state == .onboarded)
        #expect(world.posts() == 1)
        #expect(record.organizationId == world.simulator.storedOrganizations().first?.id)
    }

    @Test("a sign-in VB365 has not seen yet (resume --signed-in too early) leaves the tenant waiting, not failed")
    func tooEarly() throws {
        let world = try World(.v8)
        _ = try world.start("contoso")
        #expect(throws: VB365Error.self) { try world.onboarding().resume(try TenantID("contoso"), wait: .assumeSignedIn) }
        let record = try #require(try OnboardingStore(folder: world.dir.file("onboarding")).load(try TenantID("contoso")))
        #expect(record.state == .awaitingCustomer)
        #expect(record.failure?.serverMessage?.contains("not been used to sign in") == true)
    }

    @Test("a resume against another server than the code came from is refused")
    func otherServer() throws {
        let world = try World(.v8)
        _ = try world.start("contoso")
        let other = try World(.v8)
        let client = try VB365Client(configuration: .init(serverURL: other.simulator.baseURL, username: World.user, http: .init(trust: .caFile(other.caFile))),
                                     password: Array(World.password.utf8).withUnsafeBytes { SecretBytes(copying: $0) }, logger: World.logger)
        let flow = Onboarding(client: client, vault: try world.vault(), store: try OnboardingStore(folder: world.dir.file("onboarding")),
                              issuer: Issuer(policy: try PolicyLoader.load(path: TestEnvironment.policy("default")), logger: World.logger), logger: World.logger)
        let error = try #require(throws: CertVaultError.self) { try flow.resume(try TenantID("contoso")) }
        #expect(error.hint?.contains("--url") == true)
    }

    @Test("an add left unfinished (answer lost and the lookup failing too) is reconciled by the next resume, never posted twice")
    func unfinishedAddReconciled() throws {
        let world = try World(.v6)
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        world.simulator.dropAfterProcessing("POST Organizations")
        world.simulator.failNext("GET Organizations", status: 503, count: 3)
        #expect(throws: VB365Error.self) { try world.onboarding().resume(tenant) }
        let stored = try OnboardingStore(folder: world.dir.file("onboarding")).load(tenant)
        #expect(stored?.state == .addingOrganization)
        let record = try world.onboarding().resume(tenant)
        #expect(record.state == .onboarded)
        #expect(world.posts() == 1)
        #expect(world.simulator.storedOrganizations().count == 1)
    }

    @Test("two resumes of one tenant at once produce one POST")
    func concurrentResumes() throws {
        let world = try World(.v8)
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        world.simulator.delay("POST Organizations", seconds: 0.5)
        let results = NSLock()
        nonisolated(unsafe) var states: [OnboardingRecord.State] = []
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                let state = (try? world.onboarding().resume(try TenantID("contoso")).state)
                results.withLock { states.append(state ?? .failed) }
                group.leave()
            }
        }
        group.wait()
        #expect(states == [.onboarded, .onboarded])
        #expect(world.posts() == 1)
    }

    @Test("VB365 refuses an AES PFX on Windows Server 2016: failed, with the server's message and the fix")
    func refusedPFX() throws {
        let world = try World(.v8) { $0.windowsServer2016 = true }
        world.profile = .modern
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        let record = try world.onboarding().resume(try TenantID("contoso"))
        #expect(record.state == .failed)
        #expect(record.failure?.serverMessage?.contains("network password is not correct") == true)
        #expect(record.failure?.hint?.contains("compat") == true)
        #expect(record.failure?.status == 400)
    }

    @Test("the wrong region for the tenant: failed, with the server's message and what to fix")
    func wrongRegion() throws {
        let world = try World(.v8) { $0.tenantRegions = ["contoso.onmicrosoft.com": .germany] }
        let started = try world.start("contoso", region: .worldwide)
        world.simulator.signIn(userCode: started.userCode!)
        let record = try world.onboarding().resume(try TenantID("contoso"))
        #expect(record.state == .failed)
        #expect(record.failure?.serverMessage?.contains("the tenant is in region Germany") == true)
        #expect(record.failure?.hint?.contains("region") == true)
        #expect(world.simulator.storedOrganizations().isEmpty)
    }

    @Test("an organization added before (by hand) is recognised, not duplicated")
    func alreadyThere() throws {
        let world = try World(.v8)
        let flow = try world.onboarding()
        let intake = try world.intake("contoso")
        // Someone added it by hand with the same certificate.
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        let (_, payload, _) = try world.vault().readOut(tenant: intake.tenant, generation: started.generation ?? 1, purpose: "test")
        let other = try flow.client.createDeviceCode(region: .worldwide)
        world.simulator.signIn(userCode: other.userCode)
        _ = try flow.client.addOrganization(.newOffice365(officeName: intake.officeName, region: .worldwide, userCode: other.userCode,
                                                          applicationName: "by hand", certificateBase64: Base64.encode(payload.pfx), password: payload.password))
        let record = try world.onboarding().resume(intake.tenant)
        #expect(record.state == .onboarded)
        #expect(world.simulator.storedOrganizations().count == 1)
    }

    @Test("bad intake is refused before anything is sent; a second start of a running onboarding is refused")
    func badInput() throws {
        let world = try World()
        let flow = try world.onboarding()
        var intake = try world.intake("contoso")
        intake.officeName = "../../etc"
        #expect(throws: CertVaultError.self) { try flow.start(intake) }
        intake = try world.intake("contoso")
        intake.exchange = false; intake.sharePoint = false; intake.teams = false
        #expect(throws: CertVaultError.self) { try flow.start(intake) }
        #expect(world.simulator.received().filter { $0.path.hasSuffix("DeviceCode") }.isEmpty)
        _ = try world.start("contoso")
        let again = try #require(throws: CertVaultError.self) { try flow.start(try world.intake("contoso")) }
        #expect(again.code == .onboardingState)
        #expect(try OnboardingStore(folder: world.dir.file("onboarding")).load(try TenantID("contoso"))?.state == .awaitingCustomer)
    }

    @Test("restore-credential prefers the generation VB365 reported, and warns for others")
    func restorePreference() throws {
        let world = try World()
        let tenant = try TenantID("contoso")
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        let record = try world.onboarding().resume(tenant)
        // A newer generation that VB365 does not know yet.
        let vault = try world.vault()
        let newer = try Issuer(policy: try PolicyLoader.load(path: TestEnvironment.policy("default")), logger: World.logger)
            .issue(IssuanceRequest(tenant: tenant, org: "Contoso"))
        let second = try vault.store(tenant: tenant, payload: EntryPayload(newer))
        let preferred = try RestoreCredential.retrieve(vault: vault, record: record, tenant: tenant, purpose: "test")
        #expect(preferred.generation == record.generation)
        #expect(preferred.matchesVB365)
        let explicit = try RestoreCredential.retrieve(vault: vault, record: record, tenant: tenant, generation: second, purpose: "test")
        #expect(!explicit.matchesVB365)
        #expect(explicit.warnings.contains { $0.contains("VB365 last reported") })
        let json = String(decoding: preferred.json(includeSecrets: false), as: UTF8.self)
        #expect(!json.contains("applicationCertificate\""))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(preferred.json(includeSecrets: true))) as? [String: Any])
        #expect(parsed["applicationId"] as? String == record.applicationId)
        #expect((parsed["applicationCertificate"] as? String).flatMap { Data(base64Encoded: $0) } == Data(preferred.pfx))
        #expect(parsed["applicationCertificatePassword"] as? String == preferred.password.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
        let audit = vault.auditRecords().records.filter { $0.action == "entry.read" }
        #expect(audit.count >= 3)
    }
}

@Suite("Rotation: a new generation pushed with PUT, the old one active until VB365 has the new")
struct RotationTests {
    func onboarded(_ world: World) throws -> TenantID {
        let started = try world.start("contoso")
        world.simulator.signIn(userCode: started.userCode!)
        #expect(try world.onboarding().resume(try TenantID("contoso")).state == .onboarded)
        return try TenantID("contoso")
    }

    @Test("with configureApplication: a fresh code, the pause, then PUT; the old generation becomes superseded", arguments: [VB365APIVersion.v6, .v8])
    func rotateWithSignIn(version: VB365APIVersion) throws {
        let world = try World(version)
        let tenant = try onboarded(world)
        let organizationId = try #require(world.simulator.storedOrganizations().first?.id)
        let paused = try world.onboarding().rotate(tenant)
        let rotation = try #require(paused.rotation)
        #expect(rotation.phase == .awaitingCustomer)
        #expect(rotation.generation == 2)
        #expect(rotation.previousGeneration == 1)
        #expect(try world.vault().summary(tenant: tenant, generation: 1).metadata.status == .active, "still active while paused")
        #expect(try world.onboarding().resumeRotation(tenant).rotation?.phase == .awaitingCustomer)

        world.simulator.signIn(userCode: try #require(rotation.userCode))
        let done = try world.onboarding().resumeRotation(tenant)
        #expect(done.rotation?.phase == .done)
        #expect(done.generation == 2)
        #expect(done.reportedThumbprint == rotation.thumbprint)
        #expect(world.simulator.certificateGenerations(organizationId: organizationId) == 2)
        let put = try #require(world.simulator.received().first { $0.method == "PUT" })
        #expect(put.requestBody?["configureApplication"] == .bool(true))
        #expect(put.requestBody?["userCode"]?.stringValue == rotation.userCode)
        #expect(put.requestBody?["exchangeOnlineSettings"]?["applicationId"]?.stringValue == done.applicationId)
        let vault = try world.vault()
        #expect(try vault.summary(tenant: tenant, generation: 1).metadata.status == .superseded)
        let new = try vault.summary(tenant: tenant, generation: 2).metadata
        #expect(new.status == .active)
        #expect(new.vb365OrganizationID == organizationId)
        let credential = try RestoreCredential.retrieve(vault: vault, record: done, tenant: tenant, purpose: "test")
        #expect(credential.generation == 2)
        #expect(credential.matchesVB365)
        let old = try RestoreCredential.retrieve(vault: vault, record: done, tenant: tenant, generation: 1, purpose: "test")
        #expect(old.warnings.contains { $0.contains("superseded") })
    }

    @Test("without configureApplication the PUT goes at once")
    func rotateDirectly() throws {
        let world = try World(.v7)
        let tenant = try onboarded(world)
        let done = try world.onboarding().rotate(tenant, configureApplication: false)
        #expect(done.rotation?.phase == .done)
        #expect(world.simulator.received().first { $0.method == "PUT" }?.requestBody?["configureApplication"] == nil)
    }

    @Test("a rotation PUT whose answer is lost is confirmed through GET, not sent again with its used code")
    func lostRotationAnswer() throws {
        let world = try World(.v8)
        let tenant = try onboarded(world)
        let paused = try world.onboarding().rotate(tenant)
        world.simulator.signIn(userCode: paused.rotation!.userCode!)
        world.simulator.dropAfterProcessing("PUT Organizations/{id}")
        // The dropped PUT was applied; the lookup right after it sees the new certificate.
        let record = try world.onboarding().resumeRotation(tenant)
        #expect(record.rotation?.phase == .done)
        #expect(try world.onboarding().resumeRotation(tenant).rotation?.phase == .done, "a second resume changes nothing")
        #expect(world.simulator.received().filter { $0.method == "PUT" }.count == 1, "the one-time code was used once")
    }

    @Test("a PUT VB365 refuses leaves the old generation active and nothing lost; the next rotate reuses the new generation")
    func refusedRotation() throws {
        let world = try World(.v8)
        let tenant = try onboarded(world)
        world.simulator.failNext("PUT Organizations/{id}", status: 400)
        let failed = try world.onboarding().rotate(tenant, configureApplication: false)
        #expect(failed.rotation?.phase == .failed)
        #expect(failed.generation == 1)
        let vault = try world.vault()
        #expect(try vault.summary(tenant: tenant, generation: 1).metadata.status == .active)
        #expect(try vault.summary(tenant: tenant, generation: 2).metadata.vb365OrganizationID == nil)
        let credential = try RestoreCredential.retrieve(vault: vault, record: failed, tenant: tenant, purpose: "test")
        #expect(credential.generation == 1, "restores keep using what VB365 has")
        let retried = try world.onboarding().rotate(tenant, configureApplication: false)
        #expect(retried.rotation?.phase == .done)
        #expect(retried.rotation?.generation == 3, "a failed rotation is not carried on; a new generation is issued")
        #expect(try vault.summary(tenant: tenant, generation: 2).metadata.status == .retired, "the refused one is kept, retired")
        #expect(try vault.summary(tenant: tenant, generation: 1).metadata.status == .superseded)
    }

    @Test("rotate --due finds tenants inside the renewal window")
    func due() throws {
        let world = try World()
        _ = try onboarded(world)
        #expect(try world.onboarding().dueForRotation(withinDays: 30).isEmpty)
        #expect(try world.onboarding().dueForRotation(withinDays: 800).map(\.record.intake.tenant.rawValue) == ["contoso"])
    }
}
