-- Frozen copy of store schema version 1, as the first release created it (PRAGMA user_version = 1).
-- test_migrate builds an old database from it by hand; never edit it to follow newer versions.
CREATE TABLE things( id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', properties TEXT, device_id TEXT UNIQUE, kind TEXT, mount_height_m REAL, density REAL, transport TEXT, created_us INTEGER NOT NULL);
CREATE TABLE locations( id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', encoding_type TEXT NOT NULL DEFAULT 'application/geo+json', location TEXT NOT NULL);
CREATE TABLE thing_locations( thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE, location_id INTEGER NOT NULL REFERENCES locations(id) ON DELETE CASCADE, PRIMARY KEY (thing_id, location_id)) WITHOUT ROWID;
CREATE INDEX thing_locations_location ON thing_locations(location_id);
CREATE TABLE historical_locations( id INTEGER PRIMARY KEY, thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE, time_us INTEGER NOT NULL);
CREATE INDEX historical_locations_thing ON historical_locations(thing_id, time_us);
CREATE TABLE historical_location_locations( historical_location_id INTEGER NOT NULL REFERENCES historical_locations(id)  ON DELETE CASCADE, location_id INTEGER NOT NULL REFERENCES locations(id) ON DELETE CASCADE, PRIMARY KEY (historical_location_id, location_id)) WITHOUT ROWID;
CREATE INDEX historical_location_locations_location ON historical_location_locations(location_id);
CREATE TABLE sensors( id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', encoding_type TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE observed_properties( id INTEGER PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', quantity INTEGER UNIQUE);
CREATE TABLE features_of_interest( id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', encoding_type TEXT NOT NULL DEFAULT 'application/geo+json', feature TEXT NOT NULL, location_id INTEGER REFERENCES locations(id) ON DELETE SET NULL);
CREATE INDEX features_of_interest_location ON features_of_interest(location_id);
CREATE TABLE datastreams( id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', unit_name TEXT NOT NULL, unit_symbol TEXT NOT NULL, unit_definition TEXT NOT NULL, observation_type TEXT NOT NULL, thing_id INTEGER NOT NULL REFERENCES things(id) ON DELETE CASCADE, sensor_id INTEGER NOT NULL REFERENCES sensors(id), observed_property_id INTEGER NOT NULL REFERENCES observed_properties(id), quantity INTEGER);
CREATE INDEX datastreams_thing ON datastreams(thing_id, quantity);
CREATE INDEX datastreams_sensor ON datastreams(sensor_id);
CREATE INDEX datastreams_observed_property ON datastreams(observed_property_id);
CREATE TABLE observations( ds_id INTEGER NOT NULL, t_us INTEGER NOT NULL, id INTEGER NOT NULL, t_end_us INTEGER, result_time_us INTEGER, result REAL, params TEXT, foi_id INTEGER, PRIMARY KEY (ds_id, t_us)) WITHOUT ROWID;
CREATE INDEX observations_id ON observations(id);
CREATE TABLE latest( ds_id INTEGER PRIMARY KEY, t_us INTEGER, t_end_us INTEGER, result_time_us INTEGER, result REAL, id INTEGER, foi_id INTEGER);
CREATE TABLE obs_counter(k INTEGER PRIMARY KEY CHECK (k = 0), next_id INTEGER NOT NULL);
INSERT INTO obs_counter VALUES (0, 1);
CREATE TABLE seq_state( device_id TEXT PRIMARY KEY, watermark INTEGER NOT NULL, pending BLOB, gap_since_us INTEGER NOT NULL, has_cum INTEGER NOT NULL, cum_seq INTEGER NOT NULL, cum_ts_us INTEGER NOT NULL, cum_in INTEGER NOT NULL, cum_out INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE quarantine( id INTEGER PRIMARY KEY, received_us INTEGER NOT NULL, topic TEXT, payload BLOB, device_id TEXT, code INTEGER NOT NULL, code_text TEXT, path TEXT, reason TEXT);
CREATE INDEX quarantine_received ON quarantine(received_us);
