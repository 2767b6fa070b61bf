import CertVaultCore
import Testing

@Suite("Tenant CSV files")
struct TenantIntakeTests {
    @Test("reads tenant, org and domain columns in any order, with quotes")
    func reads() throws {
        let csv = """
            # providers' export
            domain,tenant,org
            contoso.onmicrosoft.com,contoso,"Contoso, Ltd"
            ,fabrikam,"The ""Fabrikam"" Group"\r
            
            tailspin.onmicrosoft.com , tailspin ,
            """
        let rows = try TenantIntake.parseCSV(csv, source: "t.csv")
        #expect(rows.count == 3)
        #expect(rows[0] == TenantIntake(tenant: try TenantID("contoso"), org: "Contoso, Ltd", domain: "contoso.onmicrosoft.com"))
        #expect(rows[1].org == "The \"Fabrikam\" Group")
        #expect(rows[1].domain == nil)
        #expect(rows[2].tenant.rawValue == "tailspin")
        #expect(rows[2].org == nil)
    }

    @Test("bad files name the line and the problem", arguments: [
        ("tenant,orgname\na,b", "t.csv:1: unknown column 'orgname'"),
        ("org\nContoso", "t.csv:1: there is no 'tenant' column"),
        ("tenant\ncontoso\nfabrikam\ncontoso", "t.csv:4: tenant 'contoso' is listed again (first on line 2)"),
        ("tenant\n../../etc", "t.csv:2: Invalid tenant id"),
        ("tenant,org\nok,\"unclosed", "t.csv:2: a quoted field is not closed"),
        ("tenant,org\nok,a,b", "t.csv:2: 3 fields where the header has 2"),
        ("tenant,org\nok,\"a\"b", "t.csv:2: a quoted field is not closed, or text follows its closing quote"),
        ("tenant", "t.csv:1: the file lists no tenants"),
        ("", "t.csv:1: the file has no header row"),
    ])
    func refuses(_ csv: String, _ message: String) throws {
        let error = try #require(throws: CertVaultError.self) { try TenantIntake.parseCSV(csv, source: "t.csv") }
        #expect(error.code == .invalidInput)
        #expect(error.reason.contains(message), "\(error.reason)")
    }
}
