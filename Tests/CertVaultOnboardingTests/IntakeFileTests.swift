import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Testing

/// Onboarding intake files: the same CSV reader as `issue --from`, strict about text.
@Suite("Onboarding intake files")
struct IntakeFileTests {
    static let header = "tenant,org_name,display_name,app_name,notes\n"

    @Test("a CSV with a UTF-8 byte order mark is read like one without")
    func byteOrderMark() throws {
        let plain = Array((Self.header + "contoso,contoso.onmicrosoft.com,Contoso,,\n").utf8)
        let withBOM = try IntakeFile.parseCSV(bytes: [0xEF, 0xBB, 0xBF] + plain, source: "bom.csv")
        #expect(withBOM == (try IntakeFile.parseCSV(bytes: plain, source: "plain.csv")))
        #expect(withBOM.first?.tenant.rawValue == "contoso")
    }

    @Test("a CSV with CR-only line endings is read")
    func carriageReturns() throws {
        let intakes = try IntakeFile.parseCSV("tenant,org_name\rorgabc,orgabc.onmicrosoft.com\rorgdef,orgdef.onmicrosoft.com\r",
                                              source: "mac.csv")
        #expect(intakes.map(\.tenant.rawValue) == ["orgabc", "orgdef"])
    }

    @Test("a CSV that is not UTF-8 is refused, naming file and line")
    func notUTF8() throws {
        let bytes = Array((Self.header + "contoso,contoso.onmicrosoft.com,Caf").utf8) + [0xE9] + Array(",,\n".utf8)
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseCSV(bytes: bytes, source: "latin1.csv") }
        #expect(error.reason.hasPrefix("latin1.csv:2: the file is not UTF-8 text"), "\(error.reason)")
    }

    @Test("a quoted provider field may span lines, and errors after it name the right line")
    func multiLineNotes() throws {
        let csv = Self.header + "contoso,contoso.onmicrosoft.com,Contoso,,\"first line\nsecond line\"\nbad!,x.onmicrosoft.com,X,,\n"
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseCSV(csv, source: "n.csv") }
        #expect(error.reason.hasPrefix("n.csv:4: Invalid tenant id"), "\(error.reason)")
        let good = try IntakeFile.parseCSV(Self.header + "contoso,contoso.onmicrosoft.com,Contoso,,\"a\r\nb\"", source: "n.csv")
        #expect(good.first?.providerFields["notes"] == "a\r\nb")
    }

    @Test("control and invisible characters in display and application names are refused, shown escaped",
          arguments: [
            ("display_name", "\"Con\ttoso\""), ("display_name", "\"Con\ntoso\""), ("app_name", "app\u{202E}gpj"),
            ("display_name", "Contoso\u{200F}"),
          ])
    func namesAreText(_ column: String, _ value: String) throws {
        let row = column == "display_name" ? "contoso,contoso.onmicrosoft.com,\(value),,\n" : "contoso,contoso.onmicrosoft.com,C,\(value),\n"
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseCSV(Self.header + row, source: "t.csv") }
        #expect(error.reason.hasPrefix("t.csv:2: \(column) holds a control or invisible formatting character"), "\(error.reason)")
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
    }

    @Test("raw control characters anywhere in a CSV are refused and never echoed raw")
    func rawControls() throws {
        let csv = "tenant,org_name,\u{1B}]0;pwned\u{07}\ncontoso,contoso.onmicrosoft.com,x\n"
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseCSV(csv, source: "t.csv") }
        #expect(error.reason.hasPrefix("t.csv:1: a control character (\\u{1B}) is not allowed"), "\(error.reason)")
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape))
    }

    @Test("JSON intake: escaped control characters in names and provider fields are refused")
    func jsonControls() throws {
        let cases = [
            #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","displayName":"Con\u001b[2Jtoso"}]"#,
            #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","appName":"a\u0007"}]"#,
            #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","fields":{"crm":"x\u009b31m"}}]"#,
            #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","fields":{"c\u001brm":"x"}}]"#,
        ]
        for json in cases {
            let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseJSON(Data(json.utf8), source: "t.json") }
            #expect(error.reason.hasPrefix("t.json item 1: "), "\(error.reason)")
            #expect(error.reason.contains("control"), "\(error.reason)")
            #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
        }
        let notes = #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","fields":{"notes":"line 1\nline 2"}}]"#
        #expect(try IntakeFile.parseJSON(Data(notes.utf8), source: "t.json").first?.providerFields["notes"] == "line 1\nline 2")
    }

    @Test("an unknown region or service from the file is echoed escaped")
    func echoedValuesEscaped() throws {
        let error = try #require(throws: CertVaultError.self) {
            try IntakeFile.parseJSON(Data(#"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","services":["exchange","x\u001b"]}]"#.utf8),
                                     source: "t.json")
        }
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
    }
}

@Suite("Onboarding intake files from disk")
struct IntakeFileLoadTests {
    @Test("load reads a CSV with a byte order mark and CR-only line endings")
    func load() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("t.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("tenant,org_name\rorgabc,orgabc.onmicrosoft.com\r".utf8))
        #expect(try IntakeFile.load(path: path).map(\.tenant.rawValue) == ["orgabc"])
    }
}

@Suite("Onboarding intake JSON: encoding")
struct IntakeJSONEncodingTests {
    static let json = #"[{"tenant":"contoso","orgName":"contoso.onmicrosoft.com","displayName":"Caf\#u{E9}"}]"#

    @Test("a JSON file with a UTF-8 byte order mark is read")
    func byteOrderMark() throws {
        let intakes = try IntakeFile.parseJSON(Data([0xEF, 0xBB, 0xBF] + Array(Self.json.utf8)), source: "t.json")
        #expect(intakes.first?.displayName == "Caf\u{E9}")
    }

    @Test("a JSON file that is not UTF-8 is refused, never decoded with replacement characters")
    func notUTF8() throws {
        // "Café" in Latin-1: E9 alone is not UTF-8.
        let parts = Self.json.components(separatedBy: "\u{E9}")
        let bytes = Array(parts[0].utf8) + [0xE9] + Array(parts[1].utf8)
        let error = try #require(throws: CertVaultError.self) { try IntakeFile.parseJSON(Data(bytes), source: "t.json") }
        #expect(error.reason.contains("t.json"), "\(error.reason)")
    }
}
