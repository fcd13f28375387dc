//! Executing one stage: its statements, archives and restores, retries,
//! and the history row that records it.

use super::*;

impl Runner {
    /// Checks what can be checked before anything runs: transaction control
    /// inside a stage that migrate wraps in a transaction, archive
    /// directives above statements that cannot be archived, tables to
    /// archive that have no key. Returns, per step, the archive and restore
    /// actions it will take.
    pub(super) async fn validate(&mut self, steps: &[Step]) -> Result<Vec<Vec<String>>, Error> {
        let mut blockers = Vec::new();
        let mut actions = Vec::new();
        for step in steps {
            let mut acts = Vec::new();
            match self.prepare(step) {
                Err(b) => blockers.push(b),
                Ok((statements, _))
                    if statements.is_empty()
                        && step.direction == Direction::Up
                        && template::is_untouched(
                            &step.script.sql,
                            &step.name,
                            step.stage,
                            Direction::Up,
                        ) =>
                {
                    // Recording an untouched template as applied would turn
                    // the statements written into it later into drift. (An
                    // up of only comments is a no-op, applied and recorded.)
                    blockers.push(Blocker {
                        kind: BlockerKind::Statement,
                        version: Some(step.version),
                        message: format!(
                            "{}: template not filled in: {} is still the template `migrate new` wrote; write the migration, or delete its files",
                            step.label(),
                            step.script.path.display()
                        ),
                    });
                }
                Ok((statements, targets)) => {
                    for (i, target) in targets.iter().enumerate() {
                        let Some(t) = target else { continue };
                        match self.driver.key_columns(&t.table_sql, &t.table).await? {
                            Some(keys) if keys.is_empty() => blockers.push(Blocker {
                                kind: BlockerKind::Archive,
                                version: Some(step.version),
                                message: format!("{}: {}", step.label(), no_key_message(t)),
                            }),
                            _ => acts.push(format!(
                                "archive {} before statement {} ({})",
                                t.label(),
                                i + 1,
                                step.script.location(statements[i].line)
                            )),
                        }
                    }
                    let opposite = step.direction.opposite();
                    for a in self.archives.iter().rev().filter(|a| {
                        a.version == step.version
                            && a.stage == step.stage
                            && a.direction == opposite
                            && a.restored_at.is_none()
                    }) {
                        acts.push(format!(
                            "restore {} ({} rows kept in {}) if the stage re-creates it",
                            a.label(),
                            a.row_count,
                            a.archive_table
                        ));
                    }
                }
            }
            actions.push(acts);
        }
        if blockers.is_empty() {
            Ok(actions)
        } else {
            Err(Error::Refused { blockers })
        }
    }

    /// The statements of a step, and for each the archive target of its
    /// `-- migrate:archive` directive, if it has one.
    pub(super) fn prepare(
        &self,
        step: &Step,
    ) -> Result<(Vec<Statement>, Vec<Option<ArchiveTarget>>), Blocker> {
        let statements = self.statements(step)?;
        let mut targets = Vec::with_capacity(statements.len());
        for s in &statements {
            let line = step.script.line_offset + s.line;
            let archived = step
                .script
                .directives_for(line)
                .any(|d| d.kind == DirectiveKind::Archive);
            if !archived {
                targets.push(None);
                continue;
            }
            match archive::target(s, &step.script.sql) {
                Ok(t) => targets.push(Some(t)),
                Err(message) => {
                    return Err(Blocker {
                        kind: BlockerKind::Archive,
                        version: Some(step.version),
                        message: format!(
                            "{}: {} ({})",
                            step.label(),
                            message,
                            step.script.location(s.line)
                        ),
                    });
                }
            }
        }
        Ok((statements, targets))
    }

    pub(super) fn transactional(&self, step: &Step) -> bool {
        self.driver.backend().capabilities().transactional_ddl && !step.script.no_transaction()
    }

    /// The statements to run. In a transactional stage a leading `BEGIN` and
    /// a trailing `COMMIT` (golang-migrate files often have them) are
    /// dropped; any other transaction control is refused.
    pub(super) fn statements(&self, step: &Step) -> Result<Vec<Statement>, Blocker> {
        let sql = &step.script.sql;
        let mut statements = split(sql, self.driver.backend().dialect());
        // A COPY FROM STDIN whose rows are not in the file would wait for
        // them forever, holding the lock: refuse it before anything runs.
        for s in &statements {
            let Some(copy) = &s.copy_data else { continue };
            let problem = if self.driver.backend() != crate::driver::Backend::Postgres {
                Some("is PostgreSQL's (psql's data sections); this database does not take it")
            } else if !copy.terminated {
                Some(
                    "has no line `\\.` after its rows: migrate sends the rows written after it, up to that line, and would otherwise wait for data forever. End the rows with a line `\\.`",
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Blocker {
                    kind: BlockerKind::Statement,
                    version: Some(step.version),
                    message: format!(
                        "{}: `{}` at {} {problem}",
                        step.label(),
                        first_line(s.text(sql)),
                        step.script.location(s.line)
                    ),
                });
            }
        }
        if !self.transactional(step) {
            return Ok(statements);
        }
        let kind = |s: &Statement| -> Option<&'static str> {
            let words: Vec<String> = s
                .words(sql)
                .take(2)
                .map(|w| w.to_ascii_uppercase())
                .collect();
            match (
                words.first().map(String::as_str),
                words.get(1).map(String::as_str),
                words.len(),
            ) {
                (Some("BEGIN"), None | Some("TRANSACTION") | Some("WORK"), _) => Some("begin"),
                (Some("START"), Some("TRANSACTION"), _) => Some("begin"),
                (Some("COMMIT" | "END"), _, _) => Some("commit"),
                (Some("ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"), _, _) => Some("other"),
                _ => None,
            }
        };
        if statements.first().and_then(&kind) == Some("begin")
            && statements.last().and_then(&kind) == Some("commit")
            && statements.len() >= 2
        {
            statements.pop();
            statements.remove(0);
        }
        let upper_words = |s: &Statement| -> Vec<String> {
            s.words(sql).take(2).map(str::to_ascii_uppercase).collect()
        };
        if self.driver.backend() == crate::driver::Backend::Sqlite
            && let Some(s) = statements
                .iter()
                .find(|s| crate::check::ir::is_foreign_keys_pragma(&upper_words(s)))
        {
            return Err(Blocker {
                kind: BlockerKind::Statement,
                version: Some(step.version),
                message: format!(
                    "{}: `{}` at {} does nothing inside a transaction, and migrate runs this stage in one: foreign keys would stay on, and dropping a table would delete the child rows of its ON DELETE CASCADE keys. Put `-- migrate:no-transaction` at the top of the file (the rebuild then runs statement by statement, as SQLite documents it)",
                    step.label(),
                    first_line(s.text(sql)),
                    step.script.location(s.line)
                ),
            });
        }
        if let Some(s) = statements.iter().find(|s| kind(s).is_some()) {
            return Err(Blocker {
                kind: BlockerKind::Statement,
                version: Some(step.version),
                message: format!(
                    "{}: `{}` at {} controls the transaction, but migrate already runs each stage in one. Remove it, or put `-- migrate:no-transaction` at the top of the file to manage transactions yourself",
                    step.label(),
                    first_line(s.text(sql)),
                    step.script.location(s.line)
                ),
            });
        }
        Ok(statements)
    }

    pub(super) fn failure(
        &self,
        step: &Step,
        statements: &[Statement],
        index: usize,
        db: DbError,
        rolled_back: bool,
        attempts: u32,
    ) -> Error {
        let s = &statements[index];
        // A revert runs the stored down: point at the file's line only when
        // the file still holds that text, and say so otherwise.
        let file_holds_it = step.direction == Direction::Up
            || self
                .source
                .get(step.version)
                .and_then(|m| m.stage(step.stage))
                .and_then(|st| st.down.as_ref())
                .is_some_and(|d| d.sql == step.script.sql);
        let location = if file_holds_it {
            step.script.location(s.line)
        } else {
            format!(
                "line {} of the down stored when it was applied (from {}, which no longer holds it: `migrate repair` puts the file's down in)",
                step.script.line_offset + s.line,
                step.script.path.display()
            )
        };
        self.failure_at(
            step,
            index + 1,
            location,
            first_line(s.text(&step.script.sql)).to_string(),
            db,
            rolled_back,
            index,
            attempts,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn failure_at(
        &self,
        step: &Step,
        statement: usize,
        location: String,
        excerpt: String,
        db: DbError,
        rolled_back: bool,
        done: usize,
        attempts: u32,
    ) -> Error {
        Error::StageFailed(Box::new(StageFailure {
            migration: format!("{}_{}", step.version_text, step.name),
            version: step.version,
            stage: step.stage,
            direction: step.direction,
            statement,
            location,
            excerpt,
            db,
            rolled_back,
            statements_done: if rolled_back { 0 } else { done },
            attempts,
            completed: vec![],
            residue: None,
        }))
    }

    /// After a statement failed outside a transaction: what it left behind.
    /// A failed `CREATE INDEX CONCURRENTLY` on PostgreSQL leaves an INVALID
    /// index of that name (maintained on every write, used by no query,
    /// and in the way of the next attempt): migrate drops it and says so.
    pub(super) async fn clean_up_after(
        &mut self,
        step: &Step,
        statement: &Statement,
    ) -> Option<Residue> {
        if self.driver.backend() != crate::driver::Backend::Postgres {
            return None;
        }
        let sql = &step.script.sql;
        let crate::check::ir::Op::CreateIndex {
            name: Some(name),
            concurrently: true,
            ..
        } = crate::check::ir::read(statement, sql, crate::sql::Dialect::Postgres).op
        else {
            return None;
        };
        match self.driver.index_is_invalid(&name).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                return Some(Residue::Left(format!(
                    "the failed CREATE INDEX CONCURRENTLY may have left an INVALID index {name} (checking failed: {e}): look with \\d and drop it with DROP INDEX CONCURRENTLY {name} before running again"
                )));
            }
        }
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {name}");
        Some(match self.driver.execute(&drop).await {
            Ok(()) => {
                tracing::warn!(index = %name, "dropped the invalid index a failed CREATE INDEX CONCURRENTLY left");
                Residue::Removed(format!(
                    "the failed CREATE INDEX CONCURRENTLY had left an INVALID index {name}; migrate dropped it"
                ))
            }
            Err(e) => Residue::Left(format!(
                "the failed CREATE INDEX CONCURRENTLY left an INVALID index {name}, and dropping it failed ({}): drop it with DROP INDEX CONCURRENTLY {name} before running again",
                e.message
            )),
        })
    }

    /// Runs one statement of a stage, first archiving what it drops when
    /// `-- migrate:archive` stands above it. Returns what was archived.
    pub(super) async fn run_statement(
        &mut self,
        step: &Step,
        statement: &Statement,
        target: Option<&ArchiveTarget>,
    ) -> Result<Option<String>, DbError> {
        let mut archived = None;
        let mut made = None;
        if let Some(target) = target {
            let columns = self
                .driver
                .table_columns(&target.table_sql, &target.table)
                .await
                .map_err(|e| DbError::of(&e))?;
            // Nothing to keep when the table (or column) is not there: the
            // statement must be a DROP ... IF EXISTS.
            let present =
                !columns.is_empty() && target.column.as_ref().is_none_or(|c| columns.contains(c));
            if present {
                let keys = self
                    .driver
                    .key_columns(&target.table_sql, &target.table)
                    .await
                    .map_err(|e| DbError::of(&e))?
                    .unwrap_or_default();
                if keys.is_empty() {
                    return Err(DbError {
                        message: no_key_message(target),
                        code: None,
                        lock_timeout: false,
                        cause: None,
                    });
                }
                let record = self
                    .driver
                    .archive(
                        step.version,
                        step.stage,
                        step.direction,
                        target,
                        &keys,
                        &now(),
                    )
                    .await?;
                archived = Some(format!(
                    "archived {} ({} rows) into {}",
                    record.label(),
                    record.row_count,
                    record.archive_table
                ));
                made = Some(record);
            }
        }
        let ran = match &statement.copy_data {
            Some(copy) => {
                let sql = &step.script.sql;
                self.driver
                    .copy_in(statement.text(sql), &sql[copy.span.clone()])
                    .await
            }
            None => self.driver.execute(statement.text(&step.script.sql)).await,
        };
        if let Err(e) = ran {
            // The statement did not drop anything: the copy taken for it is
            // not the data of a drop that happened. Outside a transaction it
            // would stay and, after a retry archived again, be restored over
            // newer values; inside one the rollback removes it.
            if let Some(record) = made
                && !self.transactional(step)
                && let Err(drop) = self.driver.drop_archive(&record).await
            {
                tracing::warn!(archive = %record.archive_table, error = %drop, "could not discard the archive of a failed attempt");
            }
            return Err(e);
        }
        Ok(archived)
    }

    /// Puts back what the inverse of this stage archived, if this stage
    /// re-created it. Returns what came back.
    pub(super) async fn restore_archives(&mut self, step: &Step) -> Result<Vec<String>, DbError> {
        let pending: Vec<ArchiveRecord> = self.pending_restores(step).cloned().collect();
        let mut done = Vec::new();
        // Column archives of one table go back in one statement when they
        // can (a row rewritten once, not once per column), in the order
        // they would have gone one by one: a column joins the group of the
        // last thing restored into its table only when that is a group of
        // columns with the same key (a table's rows put back in between
        // keep their place). The rest, and any group that cannot, one by one.
        let mut units: Vec<Vec<ArchiveRecord>> = Vec::new();
        for a in pending {
            let last_same_table = units
                .iter_mut()
                .rev()
                .find(|u| u[0].table_sql == a.table_sql);
            match last_same_table {
                Some(u)
                    if a.column.is_some()
                        && u[0].column.is_some()
                        && u[0].key_columns == a.key_columns =>
                {
                    u.push(a)
                }
                _ => units.push(vec![a]),
            }
        }
        for unit in units {
            let grouped = if unit.len() > 1 {
                self.driver.restore_columns(&unit, &now()).await?
            } else {
                None
            };
            if let Some(rows) = grouped {
                for a in &unit {
                    done.push(restored_message(a, rows));
                    self.mark_restored(a);
                }
                continue;
            }
            for a in unit {
                if let Some(rows) = self.driver.restore(&a, &now()).await? {
                    done.push(restored_message(&a, rows));
                    self.mark_restored(&a);
                }
            }
        }
        Ok(done)
    }

    /// The event of a stage that failed, with what failed and how long it ran.
    async fn log_failure(
        &mut self,
        action: &str,
        step: &Step,
        detail: String,
        started: Instant,
    ) -> Result<(), Error> {
        self.event(
            action,
            Some(step),
            "failed",
            Some(detail),
            Some(started.elapsed()),
        )
        .await
    }

    /// What the inverse of this stage archived and is not yet put back,
    /// newest first.
    fn pending_restores<'a>(&'a self, step: &'a Step) -> impl Iterator<Item = &'a ArchiveRecord> {
        let opposite = step.direction.opposite();
        self.archives.iter().rev().filter(move |a| {
            a.version == step.version
                && a.stage == step.stage
                && a.direction == opposite
                && a.restored_at.is_none()
        })
    }

    fn mark_restored(&mut self, a: &ArchiveRecord) {
        if let Some(kept) = self.archives.iter_mut().find(|k| k.id == a.id) {
            kept.restored_at = Some(now());
        }
    }

    pub(super) async fn execute(
        &mut self,
        step: &Step,
        seq: i64,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<StepReport, Error> {
        let (statements, targets) = self
            .prepare(step)
            .map_err(|b| Error::Refused { blockers: vec![b] })?;
        let started = Instant::now();
        let action = match step.direction {
            Direction::Up => "apply",
            Direction::Down => "revert",
        };
        let retries = self.options.lock_retries.max(1);
        let mut attempts = 1;
        let mut archived: Vec<String> = Vec::new();
        let restored: Vec<String>;
        let restore_failure = |runner: &Runner, db: DbError, rolled_back: bool, attempts: u32| {
            runner.failure_at(
                step,
                statements.len() + 1,
                step.script.path.display().to_string(),
                "(restoring archived data after the stage's statements)".to_string(),
                db,
                rolled_back,
                statements.len(),
                attempts,
            )
        };
        // PostgreSQL and SQLite: the whole stage and its bookkeeping in one
        // round trip when nothing in it needs a step of its own (an archive,
        // a restore, COPY's rows). A failure there is rolled back, and the stage runs
        // again statement by statement below, which says which one failed.
        let one_trip = self.transactional(step)
            && targets.iter().all(Option::is_none)
            && statements.iter().all(|s| s.copy_data.is_none())
            && self.pending_restores(step).next().is_none();
        let mut done_in_one = false;
        if one_trip {
            let write = match step.direction {
                Direction::Up => HistoryWrite::Insert(Box::new(self.applied_row(
                    step,
                    seq,
                    RowState::Applied,
                    Duration::ZERO,
                ))),
                Direction::Down => HistoryWrite::Delete(step.version, step.stage),
            };
            let ev = self.new_event(action, Some(step), "ok", None, Some(Duration::ZERO));
            let texts: Vec<&str> = statements
                .iter()
                .map(|s| s.text(&step.script.sql))
                .collect();
            match self.driver.run_stage_in_one(&texts, &write, &ev).await {
                Ok(done) => done_in_one = done,
                Err(db) => {
                    tracing::debug!(migration = %step.label(), error = %db.message, "the stage failed in one round trip; running it statement by statement");
                }
            }
        }
        if done_in_one {
            restored = Vec::new();
        } else if self.transactional(step) {
            'attempt: loop {
                self.driver.start_stage(true).await?;
                archived.clear();
                for (i, s) in statements.iter().enumerate() {
                    match self.run_statement(step, s, targets[i].as_ref()).await {
                        Ok(a) => archived.extend(a),
                        Err(db) => {
                            self.driver.rollback().await;
                            self.reload_archives().await?;
                            if db.lock_timeout && attempts < retries {
                                self.retry_pause(step, action, i + 1, &db, attempts, on)
                                    .await?;
                                attempts += 1;
                                continue 'attempt;
                            }
                            let detail = format!("statement {}: {}", i + 1, db.message);
                            self.log_failure(action, step, detail, started).await?;
                            return Err(self.failure(step, &statements, i, db, true, attempts));
                        }
                    }
                }
                restored = match self.restore_archives(step).await {
                    Ok(r) => r,
                    Err(db) => {
                        self.driver.rollback().await;
                        self.reload_archives().await?;
                        self.log_failure(action, step, format!("restore: {}", db.message), started)
                            .await?;
                        return Err(restore_failure(self, db, true, attempts));
                    }
                };
                let elapsed = started.elapsed();
                let write = match step.direction {
                    Direction::Up => HistoryWrite::Insert(Box::new(self.applied_row(
                        step,
                        seq,
                        RowState::Applied,
                        elapsed,
                    ))),
                    Direction::Down => HistoryWrite::Delete(step.version, step.stage),
                };
                let detail = detail_of(&archived, &restored);
                let ev = self.new_event(action, Some(step), "ok", detail, Some(elapsed));
                self.driver.record_and_commit(&write, &ev).await?;
                break;
            }
        } else {
            self.driver.start_stage(false).await?;
            // Outside a transaction: the row says `failed` until the stage completes.
            match step.direction {
                Direction::Up => {
                    self.driver
                        .insert_applied(&self.applied_row(
                            step,
                            seq,
                            RowState::Failed,
                            Duration::ZERO,
                        ))
                        .await?
                }
                Direction::Down => {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed(Direction::Down, 0, None),
                        )
                        .await?
                }
            }
            let direction = step.direction;
            // MySQL's LOCK TABLES (a mysqldump's data sections) makes every
            // other table unwritable until UNLOCK TABLES: no progress row is
            // written meanwhile, and the stage's locks are released before
            // the history is written, whatever happens.
            let mut tables_locked = false;
            for (i, s) in statements.iter().enumerate() {
                loop {
                    match self.run_statement(step, s, targets[i].as_ref()).await {
                        Ok(a) => {
                            archived.extend(a);
                            tables_locked = locks_tables(s, &step.script.sql, tables_locked);
                            break;
                        }
                        Err(db) if db.lock_timeout && attempts < retries => {
                            self.retry_pause(step, action, i + 1, &db, attempts, on)
                                .await?;
                            attempts += 1;
                        }
                        Err(db) => {
                            if tables_locked {
                                self.unlock_tables().await;
                            }
                            let residue = self.clean_up_after(step, &statements[i]).await;
                            let nothing_left = i == 0 && !matches!(residue, Some(Residue::Left(_)));
                            if nothing_left {
                                // Nothing ran: put the history back as it was.
                                match step.direction {
                                    Direction::Up => {
                                        self.driver.delete_applied(step.version, step.stage).await?
                                    }
                                    Direction::Down => {
                                        self.driver
                                            .update_state(
                                                step.version,
                                                step.stage,
                                                &RowUpdate::applied(None),
                                            )
                                            .await?
                                    }
                                }
                            } else {
                                self.driver
                                    .update_state(
                                        step.version,
                                        step.stage,
                                        &RowUpdate::failed(direction, i as i64, Some(&db.message)),
                                    )
                                    .await?;
                            }
                            let detail = format!("statement {}: {}", i + 1, db.message);
                            self.log_failure(action, step, detail, started).await?;
                            let mut failure =
                                self.failure(step, &statements, i, db, false, attempts);
                            if let Error::StageFailed(f) = &mut failure {
                                f.residue = residue;
                            }
                            return Err(failure);
                        }
                    }
                }
                if statements.len() > 1 && i + 1 < statements.len() && !tables_locked {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed(direction, i as i64 + 1, None),
                        )
                        .await?;
                }
            }
            if tables_locked {
                self.unlock_tables().await;
            }
            restored = match self.restore_archives(step).await {
                Ok(r) => r,
                Err(db) => {
                    let done = statements.len() as i64;
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::failed(direction, done, Some(&db.message)),
                        )
                        .await?;
                    self.log_failure(action, step, format!("restore: {}", db.message), started)
                        .await?;
                    return Err(restore_failure(self, db, false, attempts));
                }
            };
            let elapsed = started.elapsed();
            match step.direction {
                Direction::Up => {
                    self.driver
                        .update_state(
                            step.version,
                            step.stage,
                            &RowUpdate::applied(Some(elapsed.as_millis() as i64)),
                        )
                        .await?
                }
                Direction::Down => self.driver.delete_applied(step.version, step.stage).await?,
            }
            let detail = detail_of(&archived, &restored);
            self.event(action, Some(step), "ok", detail, Some(elapsed))
                .await?;
        }
        let duration = started.elapsed();
        tracing::info!(migration = %step.label(), direction = ?step.direction, ms = duration.as_millis() as u64, "stage done");
        Ok(StepReport {
            version: step.version,
            migration: format!("{}_{}", step.version_text, step.name),
            stage: step.stage,
            direction: step.direction,
            statements: statements.len(),
            duration_ms: duration.as_millis() as u64,
            attempts,
            archived,
            restored,
        })
    }

    /// `UNLOCK TABLES` after a stage's own `LOCK TABLES` (MySQL).
    pub(super) async fn unlock_tables(&mut self) {
        if let Err(e) = self.driver.execute("UNLOCK TABLES").await {
            tracing::warn!(error = %e.message, "UNLOCK TABLES after the stage failed");
        }
    }

    /// After a lock timeout: tell, log, and wait before the next attempt.
    pub(super) async fn retry_pause(
        &mut self,
        step: &Step,
        action: &str,
        statement: usize,
        db: &DbError,
        attempt: u32,
        on: &mut (dyn FnMut(Progress<'_>) + Send),
    ) -> Result<(), Error> {
        let delay = backoff(attempt);
        on(Progress::Retry {
            step,
            attempt,
            delay,
        });
        let detail = format!("statement {statement}: {}", db.message);
        self.event(action, Some(step), "retry", Some(detail), None)
            .await?;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// Re-reads the archive list after a rollback undid archives made in it.
    pub(super) async fn reload_archives(&mut self) -> Result<(), Error> {
        self.archives = self.driver.archives().await?;
        Ok(())
    }
}

/// Whether MySQL table locks are held after `statement`, given whether they
/// were before it: `LOCK TABLE(S)` takes them, `UNLOCK TABLE(S)` releases.
pub(super) fn locks_tables(statement: &Statement, sql: &str, before: bool) -> bool {
    let mut words = statement.words(sql).map(str::to_ascii_uppercase);
    match (words.next().as_deref(), words.next().as_deref()) {
        (Some("LOCK"), Some("TABLES" | "TABLE")) => true,
        (Some("UNLOCK"), Some("TABLES" | "TABLE")) => false,
        _ => before,
    }
}

pub(super) fn no_key_message(t: &ArchiveTarget) -> String {
    format!(
        "cannot archive {}: {} has no primary key (or unique NOT NULL key) to restore rows by. Add one in an earlier migration; nothing was run",
        t.label(),
        t.table
    )
}

/// What a restore did, for the report and the event log.
fn restored_message(a: &ArchiveRecord, rows: i64) -> String {
    let gone = a.row_count - rows;
    let skipped = if gone <= 0 {
        String::new()
    } else if a.column.is_some() {
        format!(" ({gone} archived rows no longer exist and were skipped)")
    } else {
        tracing::warn!(table = %a.table, rows = gone, archive = %a.archive_table, "archived rows not restored: their key exists again");
        format!(
            " ({gone} archived rows were not restored because a row with the same key exists again; they stay in {}, which `archive purge --restored-only` keeps)",
            a.archive_table
        )
    };
    format!(
        "restored {rows} rows of {} from {}{skipped}",
        a.label(),
        a.archive_table
    )
}

pub(super) fn detail_of(archived: &[String], restored: &[String]) -> Option<String> {
    let all: Vec<&str> = archived
        .iter()
        .chain(restored)
        .map(String::as_str)
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

pub(super) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
