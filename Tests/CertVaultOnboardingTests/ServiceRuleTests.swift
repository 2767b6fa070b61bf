import CertVaultCore
import CertVaultOnboarding
import Foundation
import Testing

@Suite("Service combinations VB365 refuses are refused at intake")
struct ServiceRuleTests {
    static let acceptedSets = ["exchange", "sharepoint", "exchange;sharepoint", "exchange;sharepoint;teams", "exchange;sharepoint;teams;teamschats"]
    static let refusedSets = ["teams", "exchange;teams", "sharepoint;teams", "teamschats", "exchange;sharepoint;teamschats", "teams;teamschats"]

    @Test("accepted: Exchange and SharePoint alone or together, Teams with both, Teams chats with Teams", arguments: acceptedSets)
    func accepted(_ services: String) throws {
        let intake = try IntakeFile.intake(["tenant": "contoso", "org_name": "contoso.onmicrosoft.com", "services": services], fields: [:])
        #expect(intake.exchange == services.contains("exchange"))
    }

    @Test("refused: Teams without Exchange and SharePoint, Teams chats without Teams", arguments: refusedSets)
    func refused(_ services: String) throws {
        let error = try #require(throws: CertVaultError.self) {
            try IntakeFile.intake(["tenant": "contoso", "org_name": "contoso.onmicrosoft.com", "services": services], fields: [:])
        }
        #expect(error.code == .invalidInput)
        #expect(error.reason.contains("contoso"))
        #expect(error.hint?.contains("exchange, sharepoint") == true || error.hint?.contains("exchange, sharepoint and teams") == true,
                "\(error.hint ?? "")")
        #expect(!error.reason.hasSuffix(".."))
    }

    @Test("no service at all is refused, in the workflow's own check too")
    func none() throws {
        var intake = OnboardingRecord.Intake(tenant: try TenantID("contoso"), displayName: "Contoso", officeName: "contoso.onmicrosoft.com")
        intake.exchange = false; intake.sharePoint = false; intake.teams = false; intake.teamsChats = false
        let error = try #require(throws: CertVaultError.self) { try intake.validate() }
        #expect(error.reason.contains("No service"))
        intake.teams = true
        let teamsOnly = try #require(throws: CertVaultError.self) { try intake.validate() }
        #expect(teamsOnly.reason.contains("without exchange and sharepoint"))
    }

    @Test("an intake file row with Teams alone names file and line, says what to select, and ends with one period")
    func fileRow() throws {
        let csv = "tenant,org_name,services\na,a.onmicrosoft.com,exchange;sharepoint;teams\nb,b.onmicrosoft.com,teams\n"
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseCSV(csv, source: "tenants.csv") }
        #expect(error.reason.hasPrefix("tenants.csv:3: "))
        #expect(error.reason.hasSuffix(".") && !error.reason.hasSuffix(".."), "\(error.reason)")
        #expect(error.hint?.contains("Select exchange, sharepoint and teams together") == true)
    }
}
