import CertVaultCore
import Testing

@Suite("Tenant ids are safe file names")
struct TenantIDTests {
    @Test("accepts ordinary tenant ids", arguments: ["contoso", "fabrikam-eu", "a", "tenant_01.prod", "0xdeadbeef",
                                                     String(repeating: "a", count: 64)])
    func accepts(_ value: String) throws {
        #expect(try TenantID(value).rawValue == value)
    }

    @Test("refuses unsafe ids with a reason", arguments: [
        ("../../etc", "path separator"),
        ("", "empty"),
        (" ", "whitespace"),
        ("con toso", "whitespace"),
        ("bell\u{07}", "control character"),
        ("tab\there", "control character"),
        ("nul\u{0}byte", "control character"),
        (String(repeating: "x", count: 10_240), "more than 64"),
        (String(repeating: "a", count: 65), "more than 64"),
        ("Contoso", "upper-case"),
        ("-leading", "start and end"),
        ("trailing.", "start and end"),
        ("a..b", "'..'"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("tenant$", "outside a-z"),
        ("münchen", "outside a-z"),
    ])
    func refuses(_ value: String, _ reason: String) throws {
        let error = try #require(throws: CertVaultError.self) { try TenantID(value) }
        #expect(error.code == .invalidTenantID)
        #expect(error.reason.contains(reason), "\(error.reason)")
        #expect(error.hint?.contains("a-z") == true)
        // The message stays short even for a 10 KB input.
        #expect(error.reason.utf8.count < 200)
    }
}
