import CertVaultAccess
import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Synchronization
import Testing

/// A fresh vault (key file) and the token store inside it.
struct StoreFixture {
    let dir: TemporaryDirectory
    let vault: Vault
    var storePath: String { dir.file("vault/tokens") }

    init() throws {
        dir = try TemporaryDirectory()
        vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("vault-key/root.key")))
    }

    func store(_ policies: AccessPolicySet = .empty) throws -> TokenStore {
        try TokenStore(vault: vault, policies: policies)
    }

    func fileBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: storePath))) }

    func replaceFile(_ bytes: [UInt8]) throws {
        try FileManager.default.removeItem(atPath: storePath)
        try dir.write("vault/tokens", bytes: bytes)
        chmod(storePath, 0o600)
    }
}

/// The CertVaultError that `body` throws, or nil when it throws nothing (or something else).
func thrownError(_ body: () throws -> Any) -> CertVaultError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? CertVaultError
    }
}

func text(_ secret: SecretBytes) -> String { secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
func secret(_ text: String) -> SecretBytes { Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) } }

@Suite("API tokens: creation, storage, grants, revocation")
struct TokenStoreTests {
    let now: Int64 = 1_800_000_000

    @Test("A token is cvt_, a 16-hex-digit accessor, '_' and 43 URL-safe base64 characters (256 random bits); no two alike")
    func format() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        var seen = Set<String>()
        for index in 0..<20 {
            let issued = try store.create(name: "t\(index)", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
            let token = text(issued.token)
            #expect(token.count == 64)
            #expect(token.hasPrefix("cvt_\(issued.info.accessor)_"))
            #expect(issued.info.accessor.count == 16)
            #expect(issued.info.accessor.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            let secretPart = token.dropFirst(21)
            #expect(secretPart.count == 43)
            #expect(secretPart.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            // 43 base64 characters decode to 32 bytes: 256 bits from randombytes.
            var padded = secretPart.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            padded += "="
            #expect(Data(base64Encoded: padded)?.count == 32)
            #expect(seen.insert(token).inserted)
        }
    }

    @Test("The store keeps a keyed hash only: the token, its secret part and their encodings are not in the file")
    func onlyHashStored() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(name: "restore", scopes: [.credentialsRead], tenants: nil, policy: nil, expires: nil, now: now)
        let token = text(issued.token)
        let file = try fixture.fileBytes()
        let secretPart = String(token.dropFirst(21))
        var padded = secretPart.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        let raw = try #require(Data(base64Encoded: padded))
        padded = ""
        for needle in [
            Array(token.utf8), Array(secretPart.utf8), Array(raw), Array(Hex.lower(raw).utf8), Array(Hex.upper(raw).utf8),
            Array(secretPart.prefix(16).utf8),
        ] {
            #expect(!contains(file, needle))
        }
        // What is there: the accessor and a 64-hex-digit hash.
        #expect(contains(file, Array(issued.info.accessor.utf8)))
        let listed = try store.list()
        #expect(listed.count == 1)
        #expect(!"\(listed)".contains(secretPart))
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test("The file is 0600 in a 0700 folder; a store in a new folder creates it 0700")
    func modes() throws {
        let fixture = try StoreFixture()
        _ = try fixture.store().create(name: "a", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        #expect(try TemporaryDirectory.mode(fixture.storePath) == 0o600)
        #expect(try TemporaryDirectory.mode(fixture.dir.file("vault")) == 0o700)
        let elsewhere = fixture.dir.file("service/state/tokens")
        let store = try TokenStore(vault: fixture.vault, path: elsewhere)
        _ = try store.create(name: "b", scopes: [.auditRead], tenants: nil, policy: nil, expires: nil, now: now)
        #expect(try TemporaryDirectory.mode(elsewhere) == 0o600)
        #expect(try TemporaryDirectory.mode(fixture.dir.file("service/state")) == 0o700)
    }

    @Test("A store readable by others is refused")
    func openModeRefused() throws {
        let fixture = try StoreFixture()
        _ = try fixture.store().create(name: "a", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        chmod(fixture.storePath, 0o644)
        #expect(thrownError { try fixture.store() }?.code == .insecurePermissions)
    }

    @Test("A valid token grants its scopes and tenants; the grant covers exactly its tenants")
    func grants() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(
            name: "eu", scopes: [.tenantsRead, .credentialsRead], tenants: try TenantSelector(["contoso", "eu-*"]),
            policy: nil, expires: now + 3600, now: now)
        let grant = try #require(try store.grant(for: issued.token, now: now + 10))
        #expect(grant.accessor == issued.info.accessor)
        #expect(grant.name == "eu")
        #expect(grant.scopes == [.tenantsRead, .credentialsRead])
        #expect(grant.covers(try TenantID("eu-fabrikam")))
        #expect(!grant.covers(try TenantID("us-fabrikam")))
        #expect(!grant.permits(.tokensAdmin))
        // A second handle (another process) reads the same store.
        #expect(try fixture.store().grant(for: issued.token, now: now + 10) != nil)
    }

    @Test("Unknown, malformed, altered, expired and revoked tokens grant nothing")
    func refusals() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(name: "short", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: now + 60, now: now)
        let token = text(issued.token)
        #expect(try store.grant(for: issued.token, now: now + 59) != nil)
        #expect(try store.grant(for: issued.token, now: now + 60) == nil, "expired at its expiry")
        var altered = Array(token.utf8)
        altered[40] = altered[40] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(try store.grant(for: secret(String(decoding: altered, as: UTF8.self)), now: now) == nil)
        let unknownAccessor = "cvt_0000000000000000_" + token.dropFirst(21)
        #expect(try store.grant(for: secret(unknownAccessor), now: now) == nil)
        for malformed in ["", "cvt_", "Bearer " + token, token + "\n", String(token.dropLast()), token.uppercased(), "hvs.abc"] {
            #expect(try store.grant(for: secret(malformed), now: now) == nil)
        }
        let other = try store.create(name: "other", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        #expect(try store.grant(for: other.token, now: now) != nil)
        let (info, already) = try store.revoke(accessor: other.info.accessor, now: now + 1)
        #expect(!already)
        #expect(info.revoked == now + 1)
        #expect(try store.grant(for: other.token, now: now + 2) == nil)
        #expect(try store.revoke(accessor: other.info.accessor, now: now + 5).alreadyRevoked)
        #expect(try store.list().first { $0.accessor == other.info.accessor }?.revoked == now + 1)
    }

    @Test("A revocation by another process takes effect at the next request")
    func revocationSeenByOtherHandle() throws {
        let fixture = try StoreFixture()
        let service = try fixture.store()
        let issued = try service.create(name: "svc", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        #expect(try service.grant(for: issued.token, now: now) != nil)
        try fixture.store().revoke(accessor: issued.info.accessor, now: now + 1)
        #expect(try service.grant(for: issued.token, now: now + 2) == nil)
        let created = try fixture.store().create(name: "new", scopes: [.auditRead], tenants: nil, policy: nil, expires: nil, now: now)
        #expect(try service.grant(for: created.token, now: now + 3)?.scopes == [.auditRead])
    }

    @Test("Two handles creating tokens at the same time lose none (writers take the store's lock and re-read)")
    func concurrentWriters() throws {
        let fixture = try StoreFixture()
        let handles = [try fixture.store(), try fixture.store()]
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 20) { index in
            do {
                _ = try handles[index % 2].create(
                    name: "t\(index)", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let listed = try fixture.store().list()
        #expect(listed.count == 20)
        #expect(Set(listed.map(\.name)).count == 20)
    }

    @Test("Revoking an unknown accessor is a clear error; a token given as accessor is refused without being repeated")
    func revokeErrors() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(name: "x", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        let unknown = thrownError { try store.revoke(accessor: "0123456789abcdef") }
        #expect(unknown?.code == .tokenNotFound)
        #expect(unknown?.hint?.contains("token list") == true)
        let token = text(issued.token)
        do {
            try store.revoke(accessor: token)
            Issue.record("a token was accepted as an accessor")
        } catch let error as CertVaultError {
            #expect(error.code == .invalidInput)
            #expect(!error.description.contains(String(token.dropFirst(21))))
        }
        #expect(try store.grant(for: issued.token, now: now) != nil, "nothing was revoked")
    }

    @Test("create refuses a bad name, no scopes, scopes with a policy, an unknown policy and a past expiry")
    func createErrors() throws {
        let fixture = try StoreFixture()
        let policies = try AccessPolicySet([AccessPolicy(name: "restore-tooling", scopes: [.tenantsRead], tenants: nil)])
        let store = try fixture.store(policies)
        let cases: [(String, Set<Scope>, TenantSelector?, String?, Int64?, CertVaultError.Code)] = [
            ("", [.tenantsRead], nil, nil, nil, .invalidInput),
            ("bad\nname", [.tenantsRead], nil, nil, nil, .invalidInput),
            ("none", [], nil, nil, nil, .invalidInput),
            ("both", [.tenantsRead], nil, "restore-tooling", nil, .invalidInput),
            ("missing", [], nil, "no-such-policy", nil, .unknownAccessPolicy),
            ("past", [.tenantsRead], nil, nil, now - 1, .invalidInput),
        ]
        for (name, scopes, tenants, policy, expires, code) in cases {
            let error = thrownError {
                try store.create(name: name, scopes: scopes, tenants: tenants, policy: policy, expires: expires, now: now)
            }
            #expect(error?.code == code, "\(name)")
        }
        #expect(try store.list().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.storePath))
    }

    @Test("A token bound to a policy takes the policy's grant at each request: tightening applies without re-issuing")
    func policyTightening() throws {
        let fixture = try StoreFixture()
        let wide = try AccessPolicySet([AccessPolicy(name: "restore-tooling", scopes: [.tenantsRead, .credentialsRead], tenants: nil)])
        let store = try fixture.store(wide)
        let issued = try store.create(name: "restore", scopes: [], tenants: nil, policy: "restore-tooling", expires: nil, now: now)
        #expect(issued.info.policy == "restore-tooling")
        let before = try #require(try store.grant(for: issued.token, now: now))
        #expect(before.permits(.credentialsRead))
        #expect(before.covers(try TenantID("us-contoso")))
        store.replacePolicies(
            try AccessPolicySet([
                AccessPolicy(name: "restore-tooling", scopes: [.tenantsRead], tenants: try TenantSelector(["eu-*"]))
            ]))
        let after = try #require(try store.grant(for: issued.token, now: now))
        #expect(!after.permits(.credentialsRead))
        #expect(!after.covers(try TenantID("us-contoso")))
        #expect(after.covers(try TenantID("eu-contoso")))
        // A new handle reading the tightened policies from files behaves the same.
        let folder = fixture.dir.file("access")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try fixture.dir.write("access/restore-tooling.toml", "name = \"restore-tooling\"\nscopes = [\"audit:read\"]\ntenants = []\n")
        let reloaded = try fixture.store(try AccessPolicySet.load(folder: folder))
        let third = try #require(try reloaded.grant(for: issued.token, now: now))
        #expect(third.scopes == [.auditRead])
        #expect(!third.covers(try TenantID("eu-contoso")))
    }

    @Test("A token whose policy is gone grants nothing")
    func missingPolicy() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store(try AccessPolicySet([AccessPolicy(name: "portal", scopes: [.onboardingRead], tenants: nil)]))
        let issued = try store.create(name: "portal", scopes: [], tenants: nil, policy: "portal", expires: nil, now: now)
        #expect(try store.grant(for: issued.token, now: now) != nil)
        #expect(try store.tokensWithMissingPolicy().isEmpty)
        store.replacePolicies(.empty)
        #expect(try store.grant(for: issued.token, now: now) == nil)
        #expect(try store.tokensWithMissingPolicy().map(\.accessor) == [issued.info.accessor])
        #expect(try fixture.store().grant(for: issued.token, now: now) == nil)
    }

    @Test("Last used stays in memory on the request path and is written by a flush, at most every interval")
    func lastUsed() throws {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(name: "u", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        let before = try fixture.fileBytes()
        #expect(try store.grant(for: issued.token, now: now + 100) != nil)
        #expect(try fixture.fileBytes() == before, "a grant never writes")
        #expect(try store.list().first?.lastUsed == now + 100)
        #expect(try fixture.store().list().first?.lastUsed == nil)
        #expect(try store.flushLastUsedIfDue(now: now + 101) == 1)
        #expect(try fixture.store().list().first?.lastUsed == now + 100)
        #expect(try store.grant(for: issued.token, now: now + 130) != nil)
        #expect(try store.flushLastUsedIfDue(now: now + 131) == 0, "not due within \(TokenStore.lastUsedFlushInterval) s")
        #expect(try store.flushLastUsed(now: now + 132) == 1, "at shutdown")
        #expect(try fixture.store().list().first?.lastUsed == now + 130)
        // The service holds the store as `any TokenAuthority`: the flushes reach it through the protocol.
        let authority: any TokenAuthority = store
        #expect(try authority.grant(for: issued.token, now: now + 500) != nil)
        try authority.flushIfDue(now: now + 501)
        #expect(try fixture.store().list().first?.lastUsed == now + 500)
        #expect(try authority.grant(for: issued.token, now: now + 510) != nil)
        try authority.flush(now: now + 511)
        #expect(try fixture.store().list().first?.lastUsed == now + 510)
    }

    @Test("Lifetimes: 90d, 12h, 30m, none; others and more than 1095d are refused")
    func lifetimes() throws {
        #expect(try TokenExpiry.parse("90d") == 90 * 86_400)
        #expect(try TokenExpiry.parse("12h") == 12 * 3_600)
        #expect(try TokenExpiry.parse("30m") == 30 * 60)
        #expect(try TokenExpiry.parse("none") == nil)
        #expect(try TokenExpiry.parse("1095d") == TokenExpiry.maximumSeconds)
        for bad in ["", "d", "0d", "-1d", "1.5d", "90", "90s", "1096d", "99999999999d", " 9d", "9 d", "NONE", "+3h"] {
            #expect(throws: CertVaultError.self, "\(bad)") { try TokenExpiry.parse(bad) }
        }
    }
}
