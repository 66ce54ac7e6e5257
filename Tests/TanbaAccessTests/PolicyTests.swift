import Testing
@testable import TanbaAccess

/// The roles x basis table of REQUIREMENTS.md §5.2, copied as text (the investigator and
/// inquiry-officer rows expanded to the bodies they name), and checked cell by cell.
@Suite struct PolicyTests {
    //                     criminal admin offence civil enforcement search
    static let table: [(Role, String)] = [
        (.prosecutor,                      "+ + + + + +"),
        (.judge,                           "+ + . + + ."),
        (.investigatorPolice,              "+ . + . . ."),
        (.investigatorNationalSecurity,    "+ . + . . ."),
        (.investigatorFinancialMonitoring, "+ . + . . ."),
        (.inquiryOfficerPolice,            "+ . + . . ."),
        (.inquiryOfficerNationalSecurity,  "+ . + . . ."),
        (.inquiryOfficerEmergencies,       "+ . + . . ."),
        (.inquiryOfficerStateGuard,        "+ . + . . ."),
        (.financialMonitoringOfficer,      "+ . + . . +"),
        (.militaryPoliceOfficer,           "+ . + . . +"),
        (.penitentiaryOfficer,             "+ . + . . ."),
        (.emergenciesOfficer,              "+ . + . . ."),
        (.nationalSecurityOfficer,         "+ . + . . +"),
        (.bailiff,                         ". . . . + ."),
        (.stateGuardOfficer,               "+ . . . . +"),
        (.administrativePoliceOfficer,     ". . + . . ."),
        (.criminalPoliceOfficer,           "+ . + . . +"),
        (.dutyUnitOfficer,                 ". . . . . +"),
    ]
    static let columns: [CaseKind] = [.criminal, .administrative, .administrativeOffence, .civil, .enforcement, .search]
    static let policy = AccessPolicy()

    @Test func tableCoversNineteenAuthoritiesAndSixKinds() {
        #expect(Self.table.count == 19 && Set(Self.table.map(\.0)).count == 19)
        #expect(Set(Self.table.map(\.0)) == Set(Role.authorities))
        #expect(CaseKind.allCases.count == 6 && Set(Self.columns) == Set(CaseKind.allCases))
        #expect(Role.allCases.count == 25)
    }

    @Test(arguments: Self.table)
    func everyCellOfTheRolesTable(role: Role, row: String) {
        let cells = row.split(separator: " ")
        #expect(cells.count == 6)
        for (kind, cell) in zip(Self.columns, cells) {
            for action in [Action.identify, .verify, .viewRecord] {
                let d = Self.policy.decide(AccessRequest(login: "u1", role: role, action: action,
                                                         basis: .legal(kind, caseNumber: "261500031000117")))
                if cell == "+" {
                    #expect(d.allowed, "\(role) \(kind) \(action): \(d.reason)")
                    #expect(d.audit.result.hasPrefix("allowed"))
                } else {
                    #expect(!d.allowed, "\(role) \(kind) \(action) should be refused")
                    #expect(d.refusal == .basisKindNotAllowed(role, kind))
                    #expect(d.audit.result.hasPrefix("refused: basis-kind-not-allowed"))
                }
                #expect(d.audit.basis == kind.rawValue && d.audit.caseNumber == "261500031000117")
                #expect(d.audit.role == role.rawValue && d.audit.operation == action.rawValue && d.audit.actor == "u1")
            }
        }
    }

    @Test(arguments: Role.authorities)
    func authorityRequestWithoutValidBasisIsRefused(role: Role) {
        let kind = RolesTable.rows[role]!.sorted { $0.rawValue < $1.rawValue }.first!
        let cases: [(Basis, String)] = [
            (.none, "missing-basis"),
            (.legal(kind, caseNumber: ""), "missing-case-number"),
            (.legal(kind, caseNumber: "   "), "missing-case-number"),
            (.legal(kind, caseNumber: "no digits"), "malformed-case-number"),
            (.legal(kind, caseNumber: "1; DROP TABLE"), "malformed-case-number"),
            (.legal(kind, caseNumber: String(repeating: "1", count: 65)), "malformed-case-number"),
            (.consent(reference: "doc-1"), "wrong-basis-for-action"),
            (.supervision(reference: "req-1"), "wrong-basis-for-action"),
        ]
        for (basis, code) in cases {
            let d = Self.policy.decide(AccessRequest(login: "u", role: role, action: .identify, basis: basis))
            #expect(!d.allowed && d.refusal?.code == code, "\(role) \(basis): \(d.reason)")
            #expect(d.audit.result.hasPrefix("refused: \(code)"))
        }
        // Authorities do nothing but identify, verify and view records.
        for action in Action.allCases where !action.isAuthorityRequest {
            let d = Self.policy.decide(AccessRequest(login: "u", role: role, action: action,
                                                     basis: .legal(kind, caseNumber: "2-14/2026")))
            #expect(d.refusal == .actionNotAllowed(role, action))
        }
    }

    /// Expected rights of the six own roles: action → the basis that works.
    static let own: [Role: [Action: Basis]] = [
        .branchOperator: [.enroll: .consent(reference: "c-1"), .reenroll: .consent(reference: "c-1"),
                          .verify: .consent(reference: "c-1"), .deleteOnRequest: .subjectRequest(reference: "r-1"),
                          .subjectReport: .subjectRequest(reference: "r-1"), .exportOwnRecord: .subjectRequest(reference: "r-1")],
        .branchSupervisor: [.enroll: .consent(reference: "c-1"), .reenroll: .consent(reference: "c-1"),
                            .verify: .consent(reference: "c-1"), .deleteOnRequest: .subjectRequest(reference: "r-1"),
                            .subjectReport: .subjectRequest(reference: "r-1"), .exportOwnRecord: .subjectRequest(reference: "r-1"),
                            .viewArchive: .adjudication(reference: "job-7")],
        .examiner: [.adjudicate: .adjudication(reference: "job-7"), .identify: .adjudication(reference: "job-7"),
                    .verify: .adjudication(reference: "job-7"), .viewRecord: .adjudication(reference: "job-7"),
                    .viewArchive: .adjudication(reference: "job-7")],
        .auditor: [.verifyAuditLog: .operations, .viewIncidents: .operations],
        .opsAdministrator: [.operateCluster: .operations, .viewStatus: .operations, .backup: .operations,
                            .recordIncident: .operations, .announceMaintenance: .operations,
                            .viewIncidents: .operations, .verifyAuditLog: .operations],
        .supervisingProsecutor: [.viewUserActivity: .supervision(reference: "PG-2026/114"),
                                 .supervisorReport: .supervision(reference: "PG-2026/114"),
                                 .decideAccountApplication: .supervision(reference: "PG-2026/114"),
                                 .blockAccount: .supervision(reference: "PG-2026/114"),
                                 .verifyAuditLog: .operations, .viewIncidents: .operations],
    ]

    @Test(arguments: [Role.branchOperator, .branchSupervisor, .examiner, .auditor, .opsAdministrator, .supervisingProsecutor])
    func ownRolesHaveExactlyTheirRights(role: Role) {
        #expect(!role.isAuthority)
        let rights = Self.own[role]!
        for action in Action.allCases {
            if let basis = rights[action] {
                let d = Self.policy.decide(AccessRequest(login: "x", role: role, action: action, basis: basis))
                #expect(d.allowed, "\(role) \(action): \(d.reason)")
                #expect(!Self.policy.decide(AccessRequest(login: "x", role: role, action: action, basis: .none)).allowed)
            } else {
                let d = Self.policy.decide(AccessRequest(login: "x", role: role, action: action,
                                                         basis: .supervision(reference: "PG-1")))
                #expect(d.refusal == .actionNotAllowed(role, action), "\(role) \(action)")
            }
            // No own role may cite a criminal (or any) case: they are not authorities.
            for kind in CaseKind.allCases {
                #expect(!Self.policy.decide(AccessRequest(login: "x", role: role, action: action,
                                                          basis: .legal(kind, caseNumber: "1"))).allowed)
            }
        }
    }

    @Test func branchBasisMustFitTheAction() {
        let wrong = Self.policy.decide(AccessRequest(login: "op", role: .branchOperator, action: .enroll,
                                                     basis: .subjectRequest(reference: "r-1")))
        #expect(wrong.refusal == .wrongBasisForAction(.enroll, basis: "subject-request"))
        let noDigits = Self.policy.decide(AccessRequest(login: "op", role: .branchOperator, action: .enroll,
                                                        basis: .consent(reference: "form")))
        #expect(noDigits.refusal?.code == "malformed-case-number")
        // Branch staff cannot run 1:N identification at all.
        #expect(Self.policy.decide(AccessRequest(login: "op", role: .branchOperator, action: .identify,
                                                 basis: .consent(reference: "c-1"))).refusal == .actionNotAllowed(.branchOperator, .identify))
    }

    @Test func userActivityIsVisibleOnlyToTheSupervisingProsecutor() {
        for role in Role.allCases {
            for action in [Action.viewUserActivity, .supervisorReport] {
                let d = Self.policy.decide(AccessRequest(login: "x", role: role, action: action,
                                                         basis: .supervision(reference: "PG-2026/114")))
                #expect(d.allowed == (role == .supervisingProsecutor), "\(role) \(action)")
            }
        }
        // ... and only on a documented request.
        #expect(Self.policy.decide(AccessRequest(login: "sp", role: .supervisingProsecutor, action: .viewUserActivity,
                                                 basis: .operations)).refusal?.code == "wrong-basis-for-action")
    }

    @Test func caseNumberIsCheckedAgainstTheUsersProceedings() {
        let policy = AccessPolicy(proceedings: StaticProceedings(["inv-8": ["261500031000117"]]))
        let mine = policy.decide(AccessRequest(login: "inv-8", role: .investigatorPolice, action: .identify,
                                               basis: .legal(.criminal, caseNumber: "261500031000117"), subjectRef: "ab12"))
        #expect(mine.allowed && mine.notes.isEmpty && mine.audit.subjectRef == "ab12")
        let other = policy.decide(AccessRequest(login: "inv-8", role: .investigatorPolice, action: .identify,
                                                basis: .legal(.criminal, caseNumber: "261500031000999")))
        #expect(other.refusal == .caseNotInUserProceedings("261500031000999"))
        let unknownUser = policy.decide(AccessRequest(login: "inv-9", role: .investigatorPolice, action: .identify,
                                                      basis: .legal(.criminal, caseNumber: "261500031000999")))
        #expect(unknownUser.allowed && unknownUser.notes.count == 1)
        #expect(unknownUser.audit.result.contains("not checked against the user's proceedings"))
    }
}
