-- The state database's tables and indexes as release 1 (schema version 1, the ORM declarations)
-- created them, read from sqlite_master. tests/storage/test_db.py checks the declared tables
-- still create exactly these: a database made by an older release must open without a migration.

-- alert_outbox
CREATE TABLE alert_outbox (
	id INTEGER NOT NULL, 
	alert_id INTEGER NOT NULL, 
	sink VARCHAR(200) NOT NULL, 
	delivery_key VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(alert_id) REFERENCES alerts (id) ON DELETE CASCADE, 
	UNIQUE (delivery_key)
);

-- alerts
CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	level VARCHAR(16) NOT NULL, 
	source VARCHAR(200) NOT NULL, 
	message TEXT NOT NULL, 
	context_json TEXT NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
);

-- cycle_summaries
CREATE TABLE cycle_summaries (
	cycle_id VARCHAR(64) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	workflow_type VARCHAR(64) NOT NULL, 
	selection_reason TEXT NOT NULL, 
	symbol VARCHAR(64), 
	action VARCHAR(16) NOT NULL, 
	confidence FLOAT NOT NULL, 
	executed BOOLEAN NOT NULL, 
	success BOOLEAN NOT NULL, 
	run_id VARCHAR(64), 
	tag VARCHAR(200), 
	details JSON NOT NULL, 
	PRIMARY KEY (cycle_id)
);

-- decisions
CREATE TABLE decisions (
	id INTEGER NOT NULL, 
	cycle_id VARCHAR(64) NOT NULL, 
	decided_at DATETIME NOT NULL, 
	workflow_type VARCHAR(64) NOT NULL, 
	symbol VARCHAR(64), 
	action VARCHAR(16) NOT NULL, 
	confidence FLOAT NOT NULL, 
	reasoning JSON NOT NULL, 
	criteria JSON NOT NULL, 
	details JSON NOT NULL, 
	PRIMARY KEY (id)
);

-- ix_alert_outbox_due
CREATE INDEX ix_alert_outbox_due ON alert_outbox (sink, status, next_attempt_at);

-- ix_alerts_created_at
CREATE INDEX ix_alerts_created_at ON alerts (created_at);

-- ix_cycle_summaries_started_at
CREATE INDEX ix_cycle_summaries_started_at ON cycle_summaries (started_at);

-- ix_decisions_action
CREATE INDEX ix_decisions_action ON decisions (action);

-- ix_decisions_cycle_id
CREATE INDEX ix_decisions_cycle_id ON decisions (cycle_id);

-- ix_decisions_decided_at
CREATE INDEX ix_decisions_decided_at ON decisions (decided_at);

-- ix_job_runs_job_name
CREATE INDEX ix_job_runs_job_name ON job_runs (job_name);

-- ix_promotion_audit_index_event
CREATE INDEX ix_promotion_audit_index_event ON promotion_audit_index (event);

-- ix_promotion_audit_index_key
CREATE INDEX ix_promotion_audit_index_key ON promotion_audit_index ("key");

-- ix_promotion_audit_index_proposal_id
CREATE INDEX ix_promotion_audit_index_proposal_id ON promotion_audit_index (proposal_id);

-- ix_promotion_watches_key
CREATE INDEX ix_promotion_watches_key ON promotion_watches ("key");

-- ix_promotion_watches_status
CREATE INDEX ix_promotion_watches_status ON promotion_watches (status);

-- ix_workflow_runs_created_at
CREATE INDEX ix_workflow_runs_created_at ON workflow_runs (created_at);

-- ix_workflow_runs_state
CREATE INDEX ix_workflow_runs_state ON workflow_runs (state);

-- ix_workflow_runs_workflow_type
CREATE INDEX ix_workflow_runs_workflow_type ON workflow_runs (workflow_type);

-- job_runs
CREATE TABLE job_runs (
	id INTEGER NOT NULL, 
	job_name VARCHAR(200) NOT NULL, 
	"trigger" VARCHAR(32) NOT NULL, 
	fire_time DATETIME, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	outcome VARCHAR(32) NOT NULL, 
	run_id VARCHAR(64), 
	error TEXT, 
	PRIMARY KEY (id)
);

-- promotion_audit_index
CREATE TABLE promotion_audit_index (
	seq INTEGER NOT NULL, 
	time VARCHAR(40) NOT NULL, 
	event VARCHAR(32) NOT NULL, 
	actor VARCHAR(128), 
	mode VARCHAR(32), 
	proposal_id VARCHAR(64), 
	"key" VARCHAR(256), 
	before_json TEXT, 
	after_json TEXT, 
	write_id VARCHAR(64), 
	sha256 VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);

-- promotion_pending_steps
CREATE TABLE promotion_pending_steps (
	"key" VARCHAR(256) NOT NULL, 
	proposal_id VARCHAR(64) NOT NULL, 
	proposal_created_at DATETIME NOT NULL, 
	decision_json TEXT NOT NULL, 
	queued_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);

-- promotion_proposals
CREATE TABLE promotion_proposals (
	proposal_id VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	mode VARCHAR(32) NOT NULL, 
	source VARCHAR(32) NOT NULL, 
	candidates INTEGER NOT NULL, 
	accepted INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	reviewed_by VARCHAR(128), 
	review_note TEXT, 
	reviewed_at DATETIME, 
	PRIMARY KEY (proposal_id)
);

-- promotion_watches
CREATE TABLE promotion_watches (
	change_seq INTEGER NOT NULL, 
	"key" VARCHAR(256) NOT NULL, 
	record_json TEXT NOT NULL, 
	baseline_json TEXT NOT NULL, 
	ends_at DATETIME NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	last_health VARCHAR(16), 
	reasons_json TEXT NOT NULL, 
	PRIMARY KEY (change_seq)
);

-- workflow_runs
CREATE TABLE workflow_runs (
	run_id VARCHAR(64) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	workflow_type VARCHAR(64) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	"trigger" VARCHAR(32) NOT NULL, 
	tag VARCHAR(200), 
	parameters JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	duration_s FLOAT, 
	error TEXT, 
	report_dir TEXT, 
	summary JSON NOT NULL, 
	PRIMARY KEY (run_id)
);

