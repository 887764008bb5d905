// name: schema
// mode: schema
// params: none
// returns: nothing; statements separated by ";", each idempotent (IF NOT EXISTS)
// A node's key is "Type:id" and its type is its label, so the unique key makes each type's id
// unique too: a unique constraint per type on `id` would only make every write keep a second
// unique-index entry. (Databases made by earlier versions keep theirs, which nothing reads.)
CREATE CONSTRAINT node_key IF NOT EXISTS FOR (n:Node) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT audit_seq IF NOT EXISTS FOR (a:AuditEntry) REQUIRE a.seq IS UNIQUE;
CREATE CONSTRAINT outbound_event_seq IF NOT EXISTS FOR (e:OutboundEvent) REQUIRE e.seq IS UNIQUE;
CREATE CONSTRAINT outbound_head_id IF NOT EXISTS FOR (h:OutboundHead) REQUIRE h.id IS UNIQUE;
CREATE CONSTRAINT hook_id IF NOT EXISTS FOR (h:Hook) REQUIRE h.id IS UNIQUE;
CREATE INDEX hook_attempt_hook IF NOT EXISTS FOR (a:HookAttempt) ON (a.hook);
CREATE CONSTRAINT recall_case_id IF NOT EXISTS FOR (c:RecallCase) REQUIRE c.id IS UNIQUE;
CREATE CONSTRAINT recall_case_head_year IF NOT EXISTS FOR (h:RecallCaseHead) REQUIRE h.year IS UNIQUE;
CREATE INDEX recall_case_action_case IF NOT EXISTS FOR (a:RecallCaseAction) ON (a.case);
CREATE INDEX materiallot_received_at IF NOT EXISTS FOR (n:MaterialLot) ON (n.received_at);
CREATE INDEX batch_started_at IF NOT EXISTS FOR (n:Batch) ON (n.started_at);
CREATE INDEX batch_completed_at IF NOT EXISTS FOR (n:Batch) ON (n.completed_at);
CREATE INDEX device_manufactured_at IF NOT EXISTS FOR (n:Device) ON (n.manufactured_at);
CREATE INDEX device_udi IF NOT EXISTS FOR (n:Device) ON (n.udi);
CREATE INDEX maintenanceevent_performed_at IF NOT EXISTS FOR (n:MaintenanceEvent) ON (n.performed_at);
CREATE INDEX inspection_performed_at IF NOT EXISTS FOR (n:Inspection) ON (n.performed_at);
CREATE INDEX changeorder_effective_at IF NOT EXISTS FOR (n:ChangeOrder) ON (n.effective_at);
CREATE INDEX shipment_shipped_at IF NOT EXISTS FOR (n:Shipment) ON (n.shipped_at);
CREATE INDEX serviceevent_performed_at IF NOT EXISTS FOR (n:ServiceEvent) ON (n.performed_at);
CREATE INDEX complaint_reported_at IF NOT EXISTS FOR (n:Complaint) ON (n.reported_at);
CREATE INDEX processed_at IF NOT EXISTS FOR ()-[r:PROCESSED]-() ON (r.at)
