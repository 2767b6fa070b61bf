import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The onboarding store on a backend: the file layout unchanged, the tenant lock and its non-waiting form")
struct OnboardingStoreBackendTests {
    func record(_ tenant: String) throws -> OnboardingRecord {
        OnboardingRecord(intake: .init(tenant: try TenantID(tenant), displayName: tenant.capitalized, officeName: "\(tenant).onmicrosoft.com"),
                         serverURL: "https://vb365.example:4443", now: "2026-12-02T07:00:00Z")
    }

    @Test("init(backend:) with the file backend reads and writes exactly what init(folder:) does (<tenant>.json, the same bytes)")
    func fileBackendIsTheFolder() throws {
        let dir = try TemporaryDirectory()
        let byFolder = try OnboardingStore(folder: dir.file("onboarding"))
        let byBackend = OnboardingStore(backend: try FileOnboardingBackend(folder: dir.file("onboarding")))
        #expect(byBackend.folder == byFolder.folder)
        try byFolder.save(try record("contoso"))
        #expect(try byBackend.load(try TenantID("contoso")) == (try record("contoso")))
        let bytes = try #require(FileManager.default.contents(atPath: dir.file("onboarding/contoso.json")))
        #expect(Array(bytes) == (try OnboardingStore.encode(try record("contoso"))), "the file holds the documented JSON")
        #expect(try byBackend.all().map(\.intake.tenant.rawValue) == ["contoso"])
        #expect(byBackend.path(try TenantID("contoso")) == dir.file("onboarding/contoso.json"))
    }

    @Test("withTenantLockIfFree runs when the tenant is free, and not at all while another process holds its lock")
    func ifFree() throws {
        let dir = try TemporaryDirectory()
        let store = try OnboardingStore(folder: dir.file("onboarding"))
        let tenant = try TenantID("fabrikam")
        #expect(try store.withTenantLockIfFree(tenant) { lease in lease == nil ? "ran" : "lease?" } == "ran", "no fencing on files")
        let fd = open(dir.file("onboarding/fabrikam.lock"), O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        #expect(try store.withTenantLockIfFree(tenant) { _ in "ran" } == nil, "busy elsewhere: not run")
        flock(fd, LOCK_UN)
        #expect(try store.withTenantLockIfFree(tenant) { _ in "ran" } == "ran")
    }
}
