--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: crm; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA crm;


--
-- Name: reverse_etl; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA reverse_etl;


--
-- Name: pg_reverse_etl; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION pg_reverse_etl WITH SCHEMA reverse_etl VERSION '0.1.0';


--
-- Name: EXTENSION pg_reverse_etl; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION pg_reverse_etl IS 'Reverse ETL inside PostgreSQL: sync query results to tables, APIs and files, sending only what changed';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: contacts; Type: TABLE; Schema: crm; Owner: -
--

CREATE TABLE crm.contacts (
    email text NOT NULL,
    plan_name text NOT NULL,
    source text
);


--
-- Name: list_members; Type: TABLE; Schema: crm; Owner: -
--

CREATE TABLE crm.list_members (
    list text NOT NULL,
    email text NOT NULL
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id integer NOT NULL,
    email text NOT NULL,
    plan text,
    active boolean DEFAULT true NOT NULL
);


--
-- Name: snapshot_1; Type: TABLE; Schema: reverse_etl_state; Owner: -
--

CREATE TABLE reverse_etl_state.snapshot_1 (
    row_id text NOT NULL,
    row_hash bigint NOT NULL,
    match_key text
);


--
-- Name: snapshot_2; Type: TABLE; Schema: reverse_etl_state; Owner: -
--

CREATE TABLE reverse_etl_state.snapshot_2 (
    row_id text NOT NULL,
    row_hash bigint NOT NULL,
    match_key text
);


--
-- Name: snapshot_3; Type: TABLE; Schema: reverse_etl_state; Owner: -
--

CREATE TABLE reverse_etl_state.snapshot_3 (
    row_id text NOT NULL,
    row_hash bigint NOT NULL,
    match_key text
);


--
-- Data for Name: contacts; Type: TABLE DATA; Schema: crm; Owner: -
--

COPY crm.contacts (email, plan_name, source) FROM stdin;
user10@example.com	pro	warehouse
user100@example.com	pro	warehouse
user11@example.com	team	warehouse
user12@example.com	free	warehouse
user13@example.com	pro	warehouse
user14@example.com	team	warehouse
user15@example.com	free	warehouse
user16@example.com	pro	warehouse
user17@example.com	team	warehouse
user18@example.com	free	warehouse
user19@example.com	pro	warehouse
user2@example.com	team	warehouse
user20@example.com	team	warehouse
user21@example.com	free	warehouse
user22@example.com	pro	warehouse
user23@example.com	team	warehouse
user24@example.com	free	warehouse
user25@example.com	pro	warehouse
user26@example.com	team	warehouse
user27@example.com	free	warehouse
user28@example.com	pro	warehouse
user29@example.com	team	warehouse
user30@example.com	free	warehouse
user31@example.com	pro	warehouse
user32@example.com	team	warehouse
user33@example.com	free	warehouse
user34@example.com	pro	warehouse
user35@example.com	team	warehouse
user36@example.com	free	warehouse
user37@example.com	pro	warehouse
user38@example.com	team	warehouse
user39@example.com	free	warehouse
user40@example.com	pro	warehouse
user41@example.com	team	warehouse
user42@example.com	free	warehouse
user43@example.com	pro	warehouse
user44@example.com	team	warehouse
user45@example.com	free	warehouse
user46@example.com	pro	warehouse
user47@example.com	team	warehouse
user48@example.com	free	warehouse
user49@example.com	pro	warehouse
user5@example.com	team	warehouse
user50@example.com	team	warehouse
user51@example.com	free	warehouse
user52@example.com	pro	warehouse
user53@example.com	team	warehouse
user54@example.com	free	warehouse
user55@example.com	pro	warehouse
user56@example.com	team	warehouse
user57@example.com	free	warehouse
user58@example.com	pro	warehouse
user59@example.com	team	warehouse
user6@example.com	free	warehouse
user60@example.com	free	warehouse
user61@example.com	pro	warehouse
user62@example.com	team	warehouse
user63@example.com	free	warehouse
user64@example.com	pro	warehouse
user65@example.com	team	warehouse
user66@example.com	free	warehouse
user67@example.com	pro	warehouse
user68@example.com	team	warehouse
user69@example.com	free	warehouse
user7@example.com	pro	warehouse
user70@example.com	pro	warehouse
user71@example.com	team	warehouse
user72@example.com	free	warehouse
user73@example.com	pro	warehouse
user74@example.com	team	warehouse
user75@example.com	free	warehouse
user76@example.com	pro	warehouse
user77@example.com	team	warehouse
user78@example.com	free	warehouse
user79@example.com	pro	warehouse
user8@example.com	team	warehouse
user80@example.com	team	warehouse
user81@example.com	free	warehouse
user82@example.com	pro	warehouse
user83@example.com	team	warehouse
user84@example.com	free	warehouse
user85@example.com	pro	warehouse
user86@example.com	team	warehouse
user87@example.com	free	warehouse
user88@example.com	pro	warehouse
user89@example.com	team	warehouse
user9@example.com	free	warehouse
user90@example.com	free	warehouse
user91@example.com	pro	warehouse
user92@example.com	team	warehouse
user93@example.com	free	warehouse
user94@example.com	pro	warehouse
user95@example.com	team	warehouse
user99@example.com	free	warehouse
user1@example.com	team	warehouse
user3@example.com	team	warehouse
user4@example.com	team	warehouse
\.


--
-- Data for Name: list_members; Type: TABLE DATA; Schema: crm; Owner: -
--

COPY crm.list_members (list, email) FROM stdin;
vip	user1@example.com
vip	user10@example.com
vip	user100@example.com
vip	user11@example.com
vip	user12@example.com
vip	user13@example.com
vip	user14@example.com
vip	user15@example.com
vip	user16@example.com
vip	user17@example.com
vip	user18@example.com
vip	user19@example.com
vip	user2@example.com
vip	user20@example.com
vip	user21@example.com
vip	user22@example.com
vip	user23@example.com
vip	user24@example.com
vip	user25@example.com
vip	user26@example.com
vip	user27@example.com
vip	user28@example.com
vip	user29@example.com
vip	user3@example.com
vip	user30@example.com
vip	user31@example.com
vip	user32@example.com
vip	user33@example.com
vip	user34@example.com
vip	user35@example.com
vip	user36@example.com
vip	user37@example.com
vip	user38@example.com
vip	user39@example.com
vip	user4@example.com
vip	user40@example.com
vip	user41@example.com
vip	user42@example.com
vip	user43@example.com
vip	user44@example.com
vip	user45@example.com
vip	user46@example.com
vip	user47@example.com
vip	user48@example.com
vip	user49@example.com
vip	user5@example.com
vip	user50@example.com
vip	user51@example.com
vip	user52@example.com
vip	user53@example.com
vip	user54@example.com
vip	user55@example.com
vip	user56@example.com
vip	user57@example.com
vip	user58@example.com
vip	user59@example.com
vip	user6@example.com
vip	user60@example.com
vip	user61@example.com
vip	user62@example.com
vip	user63@example.com
vip	user64@example.com
vip	user65@example.com
vip	user66@example.com
vip	user67@example.com
vip	user68@example.com
vip	user69@example.com
vip	user7@example.com
vip	user70@example.com
vip	user71@example.com
vip	user72@example.com
vip	user73@example.com
vip	user74@example.com
vip	user75@example.com
vip	user76@example.com
vip	user77@example.com
vip	user78@example.com
vip	user79@example.com
vip	user8@example.com
vip	user80@example.com
vip	user81@example.com
vip	user82@example.com
vip	user83@example.com
vip	user84@example.com
vip	user85@example.com
vip	user86@example.com
vip	user87@example.com
vip	user88@example.com
vip	user89@example.com
vip	user9@example.com
vip	user90@example.com
vip	user91@example.com
vip	user92@example.com
vip	user93@example.com
vip	user94@example.com
vip	user95@example.com
vip	user99@example.com
vip	new@example.com
\.


--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.users (id, email, plan, active) FROM stdin;
6	user6@example.com	free	t
7	user7@example.com	pro	t
8	user8@example.com	team	t
9	user9@example.com	free	t
10	user10@example.com	pro	t
11	user11@example.com	team	t
12	user12@example.com	free	t
13	user13@example.com	pro	t
14	user14@example.com	team	t
15	user15@example.com	free	t
16	user16@example.com	pro	t
17	user17@example.com	team	t
18	user18@example.com	free	t
19	user19@example.com	pro	t
20	user20@example.com	team	t
21	user21@example.com	free	t
22	user22@example.com	pro	t
23	user23@example.com	team	t
24	user24@example.com	free	t
25	user25@example.com	pro	t
26	user26@example.com	team	t
27	user27@example.com	free	t
28	user28@example.com	pro	t
29	user29@example.com	team	t
30	user30@example.com	free	t
31	user31@example.com	pro	t
32	user32@example.com	team	t
33	user33@example.com	free	t
34	user34@example.com	pro	t
35	user35@example.com	team	t
36	user36@example.com	free	t
37	user37@example.com	pro	t
38	user38@example.com	team	t
39	user39@example.com	free	t
40	user40@example.com	pro	t
41	user41@example.com	team	t
42	user42@example.com	free	t
43	user43@example.com	pro	t
44	user44@example.com	team	t
45	user45@example.com	free	t
46	user46@example.com	pro	t
47	user47@example.com	team	t
48	user48@example.com	free	t
49	user49@example.com	pro	t
50	user50@example.com	team	t
51	user51@example.com	free	t
52	user52@example.com	pro	t
53	user53@example.com	team	t
54	user54@example.com	free	t
55	user55@example.com	pro	t
56	user56@example.com	team	t
57	user57@example.com	free	t
58	user58@example.com	pro	t
59	user59@example.com	team	t
60	user60@example.com	free	t
61	user61@example.com	pro	t
62	user62@example.com	team	t
63	user63@example.com	free	t
64	user64@example.com	pro	t
65	user65@example.com	team	t
66	user66@example.com	free	t
67	user67@example.com	pro	t
68	user68@example.com	team	t
69	user69@example.com	free	t
70	user70@example.com	pro	t
71	user71@example.com	team	t
72	user72@example.com	free	t
73	user73@example.com	pro	t
74	user74@example.com	team	t
75	user75@example.com	free	t
76	user76@example.com	pro	t
77	user77@example.com	team	t
78	user78@example.com	free	t
79	user79@example.com	pro	t
80	user80@example.com	team	t
81	user81@example.com	free	t
82	user82@example.com	pro	t
83	user83@example.com	team	t
84	user84@example.com	free	t
85	user85@example.com	pro	t
86	user86@example.com	team	t
87	user87@example.com	free	t
88	user88@example.com	pro	t
89	user89@example.com	team	t
90	user90@example.com	free	t
91	user91@example.com	pro	t
92	user92@example.com	team	t
93	user93@example.com	free	t
94	user94@example.com	pro	t
95	user95@example.com	team	t
99	user99@example.com	free	t
100	user100@example.com	pro	t
1	user1@example.com	team	t
2	user2@example.com	team	t
3	user3@example.com	team	t
4	user4@example.com	team	t
5	user5@example.com	team	t
96	user96@example.com	free	f
97	user97@example.com	pro	f
98	user98@example.com	team	f
101	new@example.com	\N	t
\.


--
-- Data for Name: _secrets; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl._secrets (name, value, updated_at) FROM stdin;
crm_token	Bearer fixture	2026-12-01 22:08:20.627473+00
\.


--
-- Data for Name: destinations; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.destinations (id, name, kind, config, owner, created_at, updated_at) FROM stdin;
1	crm_db	postgres	{}	postgres	2026-12-01 22:08:20.626529+00	2026-12-01 22:08:20.626529+00
2	crm_api	http	{"url": "http://127.0.0.1:9/api", "retry": {"max_attempts": 1}, "headers": {"Authorization": {"secret": "crm_token"}}, "timeout_ms": 200}	postgres	2026-12-01 22:08:20.628261+00	2026-12-01 22:08:20.628261+00
\.


--
-- Data for Name: models; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.models (id, name, query, primary_key, search_path, columns, owner, created_at, updated_at) FROM stdin;
1	active_users	SELECT id, email, plan FROM users WHERE active	{id}	"$user", public	[{"name": "id", "type": "integer"}, {"name": "email", "type": "text"}, {"name": "plan", "type": "text"}]	postgres	2026-12-01 22:08:20.624185+00	2026-12-01 22:08:20.624185+00
\.


--
-- Data for Name: sequences; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sequences (id, name, steps, schedule, enabled, created_at, created_by, updated_at) FROM stdin;
1	nightly	[{"sync_id": 1, "on_failure": "stop", "max_rejected_share": null}, {"sync_id": 2, "on_failure": "stop", "max_rejected_share": null}]	{"manual": true}	t	2026-12-01 22:08:20.834137+00	postgres	2026-12-01 22:08:20.834137+00
\.


--
-- Data for Name: sequence_runs; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sequence_runs (id, sequence_id, status, trigger, due_at, queued_at, started_at, finished_at, error, worker_pid) FROM stdin;
1	1	succeeded	manual	\N	2026-12-01 22:08:20.840598+00	2026-12-01 22:08:20.842826+00	2026-12-01 22:08:20.913768+00	\N	2673
\.


--
-- Data for Name: sequence_run_steps; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sequence_run_steps (sequence_run_id, "position", sync_id, run_id, status, reason) FROM stdin;
1	1	1	5	succeeded	\N
1	2	2	6	succeeded	\N
\.


--
-- Data for Name: sync_activity; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sync_activity (id, sync_id, at, actor, action, old_value, new_value) FROM stdin;
1	1	2026-12-01 22:08:20.638763+00	postgres	created	\N	{"mode": "upsert", "type": "object", "match": {"to": "email", "from": "email"}, "object": "crm.contacts", "mappings": [{"to": "plan_name", "from": "plan"}, {"to": "source", "static": "warehouse"}], "schedule": {"manual": true}, "batch_size": 50, "delete_behavior": "delete", "allow_empty_model": false, "max_removed_share": 0.5}
2	2	2026-12-01 22:08:20.655994+00	postgres	created	\N	{"list": "vip", "mode": "add", "type": "list", "match": {"to": "email", "from": "email"}, "object": "crm.list_members", "mappings": [], "schedule": {"manual": true}, "batch_size": 100, "delete_behavior": "delete", "allow_empty_model": false, "max_removed_share": 0.5}
3	3	2026-12-01 22:08:20.664556+00	postgres	created	\N	{"mode": "upsert", "type": "object", "match": {"to": "email", "from": "email"}, "mappings": [], "requests": {"added": {"path": "/contacts", "method": "POST"}}, "schedule": {"manual": true}, "batch_size": 10, "delete_behavior": "nothing", "allow_empty_model": false, "max_removed_share": 0.5}
4	1	2026-12-01 22:08:20.665454+00	postgres	folder	null	"CRM"
5	1	2026-12-01 22:08:20.666129+00	postgres	labels	[]	["pii", "team:growth"]
6	3	2026-12-01 22:08:20.91876+00	postgres	disabled	\N	\N
\.


--
-- Data for Name: sync_changelog; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sync_changelog (run_id, sync_id, row_id, op, status, reason, fields, at) FROM stdin;
1	1	1	added	succeeded	\N	\N	2026-12-01 22:08:20.700963+00
1	1	10	added	succeeded	\N	\N	2026-12-01 22:08:20.701198+00
1	1	100	added	succeeded	\N	\N	2026-12-01 22:08:20.701205+00
1	1	11	added	succeeded	\N	\N	2026-12-01 22:08:20.701209+00
1	1	12	added	succeeded	\N	\N	2026-12-01 22:08:20.701212+00
1	1	13	added	succeeded	\N	\N	2026-12-01 22:08:20.701216+00
1	1	14	added	succeeded	\N	\N	2026-12-01 22:08:20.701219+00
1	1	15	added	succeeded	\N	\N	2026-12-01 22:08:20.701223+00
1	1	16	added	succeeded	\N	\N	2026-12-01 22:08:20.701226+00
1	1	17	added	succeeded	\N	\N	2026-12-01 22:08:20.70123+00
1	1	18	added	succeeded	\N	\N	2026-12-01 22:08:20.701233+00
1	1	19	added	succeeded	\N	\N	2026-12-01 22:08:20.701237+00
1	1	2	added	succeeded	\N	\N	2026-12-01 22:08:20.70124+00
1	1	20	added	succeeded	\N	\N	2026-12-01 22:08:20.701243+00
1	1	21	added	succeeded	\N	\N	2026-12-01 22:08:20.701247+00
1	1	22	added	succeeded	\N	\N	2026-12-01 22:08:20.70125+00
1	1	23	added	succeeded	\N	\N	2026-12-01 22:08:20.701254+00
1	1	24	added	succeeded	\N	\N	2026-12-01 22:08:20.701258+00
1	1	25	added	succeeded	\N	\N	2026-12-01 22:08:20.701261+00
1	1	26	added	succeeded	\N	\N	2026-12-01 22:08:20.701264+00
1	1	27	added	succeeded	\N	\N	2026-12-01 22:08:20.701268+00
1	1	28	added	succeeded	\N	\N	2026-12-01 22:08:20.701271+00
1	1	29	added	succeeded	\N	\N	2026-12-01 22:08:20.701274+00
1	1	3	added	succeeded	\N	\N	2026-12-01 22:08:20.701277+00
1	1	30	added	succeeded	\N	\N	2026-12-01 22:08:20.70128+00
1	1	31	added	succeeded	\N	\N	2026-12-01 22:08:20.701283+00
1	1	32	added	succeeded	\N	\N	2026-12-01 22:08:20.701287+00
1	1	33	added	succeeded	\N	\N	2026-12-01 22:08:20.701291+00
1	1	34	added	succeeded	\N	\N	2026-12-01 22:08:20.701295+00
1	1	35	added	succeeded	\N	\N	2026-12-01 22:08:20.701298+00
1	1	36	added	succeeded	\N	\N	2026-12-01 22:08:20.701302+00
1	1	37	added	succeeded	\N	\N	2026-12-01 22:08:20.701305+00
1	1	38	added	succeeded	\N	\N	2026-12-01 22:08:20.701309+00
1	1	39	added	succeeded	\N	\N	2026-12-01 22:08:20.701313+00
1	1	4	added	succeeded	\N	\N	2026-12-01 22:08:20.701317+00
1	1	40	added	succeeded	\N	\N	2026-12-01 22:08:20.701321+00
1	1	41	added	succeeded	\N	\N	2026-12-01 22:08:20.701324+00
1	1	42	added	succeeded	\N	\N	2026-12-01 22:08:20.701328+00
1	1	43	added	succeeded	\N	\N	2026-12-01 22:08:20.701332+00
1	1	44	added	succeeded	\N	\N	2026-12-01 22:08:20.701335+00
1	1	45	added	succeeded	\N	\N	2026-12-01 22:08:20.701339+00
1	1	46	added	succeeded	\N	\N	2026-12-01 22:08:20.701343+00
1	1	47	added	succeeded	\N	\N	2026-12-01 22:08:20.701346+00
1	1	48	added	succeeded	\N	\N	2026-12-01 22:08:20.70135+00
1	1	49	added	succeeded	\N	\N	2026-12-01 22:08:20.701354+00
1	1	5	added	succeeded	\N	\N	2026-12-01 22:08:20.701357+00
1	1	50	added	succeeded	\N	\N	2026-12-01 22:08:20.701361+00
1	1	51	added	succeeded	\N	\N	2026-12-01 22:08:20.701364+00
1	1	52	added	succeeded	\N	\N	2026-12-01 22:08:20.701369+00
1	1	53	added	succeeded	\N	\N	2026-12-01 22:08:20.701372+00
1	1	54	added	succeeded	\N	\N	2026-12-01 22:08:20.702773+00
1	1	55	added	succeeded	\N	\N	2026-12-01 22:08:20.702807+00
1	1	56	added	succeeded	\N	\N	2026-12-01 22:08:20.702812+00
1	1	57	added	succeeded	\N	\N	2026-12-01 22:08:20.702816+00
1	1	58	added	succeeded	\N	\N	2026-12-01 22:08:20.70282+00
1	1	59	added	succeeded	\N	\N	2026-12-01 22:08:20.702824+00
1	1	6	added	succeeded	\N	\N	2026-12-01 22:08:20.702828+00
1	1	60	added	succeeded	\N	\N	2026-12-01 22:08:20.702832+00
1	1	61	added	succeeded	\N	\N	2026-12-01 22:08:20.702836+00
1	1	62	added	succeeded	\N	\N	2026-12-01 22:08:20.702839+00
1	1	63	added	succeeded	\N	\N	2026-12-01 22:08:20.702844+00
1	1	64	added	succeeded	\N	\N	2026-12-01 22:08:20.702848+00
1	1	65	added	succeeded	\N	\N	2026-12-01 22:08:20.702852+00
1	1	66	added	succeeded	\N	\N	2026-12-01 22:08:20.702855+00
1	1	67	added	succeeded	\N	\N	2026-12-01 22:08:20.702859+00
1	1	68	added	succeeded	\N	\N	2026-12-01 22:08:20.702862+00
1	1	69	added	succeeded	\N	\N	2026-12-01 22:08:20.702866+00
1	1	7	added	succeeded	\N	\N	2026-12-01 22:08:20.70287+00
1	1	70	added	succeeded	\N	\N	2026-12-01 22:08:20.702874+00
1	1	71	added	succeeded	\N	\N	2026-12-01 22:08:20.702878+00
1	1	72	added	succeeded	\N	\N	2026-12-01 22:08:20.702882+00
1	1	73	added	succeeded	\N	\N	2026-12-01 22:08:20.702885+00
1	1	74	added	succeeded	\N	\N	2026-12-01 22:08:20.702889+00
1	1	75	added	succeeded	\N	\N	2026-12-01 22:08:20.702894+00
1	1	76	added	succeeded	\N	\N	2026-12-01 22:08:20.702898+00
1	1	77	added	succeeded	\N	\N	2026-12-01 22:08:20.702902+00
1	1	78	added	succeeded	\N	\N	2026-12-01 22:08:20.702912+00
1	1	79	added	succeeded	\N	\N	2026-12-01 22:08:20.702916+00
1	1	8	added	succeeded	\N	\N	2026-12-01 22:08:20.70292+00
1	1	80	added	succeeded	\N	\N	2026-12-01 22:08:20.702924+00
1	1	81	added	succeeded	\N	\N	2026-12-01 22:08:20.702928+00
1	1	82	added	succeeded	\N	\N	2026-12-01 22:08:20.702931+00
1	1	83	added	succeeded	\N	\N	2026-12-01 22:08:20.702935+00
1	1	84	added	succeeded	\N	\N	2026-12-01 22:08:20.702939+00
1	1	85	added	succeeded	\N	\N	2026-12-01 22:08:20.702942+00
1	1	86	added	succeeded	\N	\N	2026-12-01 22:08:20.702946+00
1	1	87	added	succeeded	\N	\N	2026-12-01 22:08:20.70295+00
1	1	88	added	succeeded	\N	\N	2026-12-01 22:08:20.702954+00
1	1	89	added	succeeded	\N	\N	2026-12-01 22:08:20.702958+00
1	1	9	added	succeeded	\N	\N	2026-12-01 22:08:20.702961+00
1	1	90	added	succeeded	\N	\N	2026-12-01 22:08:20.702965+00
1	1	91	added	succeeded	\N	\N	2026-12-01 22:08:20.702969+00
1	1	92	added	succeeded	\N	\N	2026-12-01 22:08:20.702976+00
1	1	93	added	succeeded	\N	\N	2026-12-01 22:08:20.70298+00
1	1	94	added	succeeded	\N	\N	2026-12-01 22:08:20.702983+00
1	1	95	added	succeeded	\N	\N	2026-12-01 22:08:20.702987+00
1	1	96	added	succeeded	\N	\N	2026-12-01 22:08:20.702991+00
1	1	97	added	succeeded	\N	\N	2026-12-01 22:08:20.702994+00
1	1	98	added	succeeded	\N	\N	2026-12-01 22:08:20.702998+00
1	1	99	added	succeeded	\N	\N	2026-12-01 22:08:20.703002+00
2	2	1	added	succeeded	\N	\N	2026-12-01 22:08:20.748727+00
2	2	10	added	succeeded	\N	\N	2026-12-01 22:08:20.748863+00
2	2	100	added	succeeded	\N	\N	2026-12-01 22:08:20.748869+00
2	2	11	added	succeeded	\N	\N	2026-12-01 22:08:20.748874+00
2	2	12	added	succeeded	\N	\N	2026-12-01 22:08:20.748878+00
2	2	13	added	succeeded	\N	\N	2026-12-01 22:08:20.748882+00
2	2	14	added	succeeded	\N	\N	2026-12-01 22:08:20.748885+00
2	2	15	added	succeeded	\N	\N	2026-12-01 22:08:20.748888+00
2	2	16	added	succeeded	\N	\N	2026-12-01 22:08:20.749653+00
2	2	17	added	succeeded	\N	\N	2026-12-01 22:08:20.749659+00
2	2	18	added	succeeded	\N	\N	2026-12-01 22:08:20.749663+00
2	2	19	added	succeeded	\N	\N	2026-12-01 22:08:20.749666+00
2	2	2	added	succeeded	\N	\N	2026-12-01 22:08:20.74967+00
2	2	20	added	succeeded	\N	\N	2026-12-01 22:08:20.749673+00
2	2	21	added	succeeded	\N	\N	2026-12-01 22:08:20.749677+00
2	2	22	added	succeeded	\N	\N	2026-12-01 22:08:20.74968+00
2	2	23	added	succeeded	\N	\N	2026-12-01 22:08:20.749684+00
2	2	24	added	succeeded	\N	\N	2026-12-01 22:08:20.74969+00
2	2	25	added	succeeded	\N	\N	2026-12-01 22:08:20.749694+00
2	2	26	added	succeeded	\N	\N	2026-12-01 22:08:20.749697+00
2	2	27	added	succeeded	\N	\N	2026-12-01 22:08:20.749701+00
2	2	28	added	succeeded	\N	\N	2026-12-01 22:08:20.749704+00
2	2	29	added	succeeded	\N	\N	2026-12-01 22:08:20.749708+00
2	2	3	added	succeeded	\N	\N	2026-12-01 22:08:20.749711+00
2	2	30	added	succeeded	\N	\N	2026-12-01 22:08:20.749714+00
2	2	31	added	succeeded	\N	\N	2026-12-01 22:08:20.749718+00
2	2	32	added	succeeded	\N	\N	2026-12-01 22:08:20.749721+00
2	2	33	added	succeeded	\N	\N	2026-12-01 22:08:20.749724+00
2	2	34	added	succeeded	\N	\N	2026-12-01 22:08:20.749728+00
2	2	35	added	succeeded	\N	\N	2026-12-01 22:08:20.749731+00
2	2	36	added	succeeded	\N	\N	2026-12-01 22:08:20.749734+00
2	2	37	added	succeeded	\N	\N	2026-12-01 22:08:20.749738+00
2	2	38	added	succeeded	\N	\N	2026-12-01 22:08:20.749741+00
2	2	39	added	succeeded	\N	\N	2026-12-01 22:08:20.749747+00
2	2	4	added	succeeded	\N	\N	2026-12-01 22:08:20.749751+00
2	2	40	added	succeeded	\N	\N	2026-12-01 22:08:20.749754+00
2	2	41	added	succeeded	\N	\N	2026-12-01 22:08:20.749758+00
2	2	42	added	succeeded	\N	\N	2026-12-01 22:08:20.749762+00
2	2	43	added	succeeded	\N	\N	2026-12-01 22:08:20.749765+00
2	2	44	added	succeeded	\N	\N	2026-12-01 22:08:20.749769+00
2	2	45	added	succeeded	\N	\N	2026-12-01 22:08:20.749774+00
2	2	46	added	succeeded	\N	\N	2026-12-01 22:08:20.749778+00
2	2	47	added	succeeded	\N	\N	2026-12-01 22:08:20.749782+00
2	2	48	added	succeeded	\N	\N	2026-12-01 22:08:20.749786+00
2	2	49	added	succeeded	\N	\N	2026-12-01 22:08:20.74979+00
2	2	5	added	succeeded	\N	\N	2026-12-01 22:08:20.749794+00
2	2	50	added	succeeded	\N	\N	2026-12-01 22:08:20.749797+00
2	2	51	added	succeeded	\N	\N	2026-12-01 22:08:20.749801+00
2	2	52	added	succeeded	\N	\N	2026-12-01 22:08:20.749805+00
2	2	53	added	succeeded	\N	\N	2026-12-01 22:08:20.749811+00
2	2	54	added	succeeded	\N	\N	2026-12-01 22:08:20.749814+00
2	2	55	added	succeeded	\N	\N	2026-12-01 22:08:20.749818+00
2	2	56	added	succeeded	\N	\N	2026-12-01 22:08:20.749822+00
2	2	57	added	succeeded	\N	\N	2026-12-01 22:08:20.749825+00
2	2	58	added	succeeded	\N	\N	2026-12-01 22:08:20.749829+00
2	2	59	added	succeeded	\N	\N	2026-12-01 22:08:20.749833+00
2	2	6	added	succeeded	\N	\N	2026-12-01 22:08:20.749836+00
2	2	60	added	succeeded	\N	\N	2026-12-01 22:08:20.74984+00
2	2	61	added	succeeded	\N	\N	2026-12-01 22:08:20.749843+00
2	2	62	added	succeeded	\N	\N	2026-12-01 22:08:20.749847+00
2	2	63	added	succeeded	\N	\N	2026-12-01 22:08:20.74985+00
2	2	64	added	succeeded	\N	\N	2026-12-01 22:08:20.749854+00
2	2	65	added	succeeded	\N	\N	2026-12-01 22:08:20.749857+00
2	2	66	added	succeeded	\N	\N	2026-12-01 22:08:20.749861+00
2	2	67	added	succeeded	\N	\N	2026-12-01 22:08:20.749864+00
2	2	68	added	succeeded	\N	\N	2026-12-01 22:08:20.74987+00
2	2	69	added	succeeded	\N	\N	2026-12-01 22:08:20.749874+00
2	2	7	added	succeeded	\N	\N	2026-12-01 22:08:20.749877+00
2	2	70	added	succeeded	\N	\N	2026-12-01 22:08:20.749881+00
2	2	71	added	succeeded	\N	\N	2026-12-01 22:08:20.749884+00
2	2	72	added	succeeded	\N	\N	2026-12-01 22:08:20.749888+00
2	2	73	added	succeeded	\N	\N	2026-12-01 22:08:20.749891+00
2	2	74	added	succeeded	\N	\N	2026-12-01 22:08:20.749895+00
2	2	75	added	succeeded	\N	\N	2026-12-01 22:08:20.749899+00
2	2	76	added	succeeded	\N	\N	2026-12-01 22:08:20.749902+00
2	2	77	added	succeeded	\N	\N	2026-12-01 22:08:20.749906+00
2	2	78	added	succeeded	\N	\N	2026-12-01 22:08:20.749909+00
2	2	79	added	succeeded	\N	\N	2026-12-01 22:08:20.749912+00
2	2	8	added	succeeded	\N	\N	2026-12-01 22:08:20.749916+00
2	2	80	added	succeeded	\N	\N	2026-12-01 22:08:20.749919+00
2	2	81	added	succeeded	\N	\N	2026-12-01 22:08:20.749923+00
2	2	82	added	succeeded	\N	\N	2026-12-01 22:08:20.749931+00
2	2	83	added	succeeded	\N	\N	2026-12-01 22:08:20.749934+00
2	2	84	added	succeeded	\N	\N	2026-12-01 22:08:20.749938+00
2	2	85	added	succeeded	\N	\N	2026-12-01 22:08:20.749942+00
2	2	86	added	succeeded	\N	\N	2026-12-01 22:08:20.749945+00
2	2	87	added	succeeded	\N	\N	2026-12-01 22:08:20.749949+00
2	2	88	added	succeeded	\N	\N	2026-12-01 22:08:20.749953+00
2	2	89	added	succeeded	\N	\N	2026-12-01 22:08:20.749957+00
2	2	9	added	succeeded	\N	\N	2026-12-01 22:08:20.749961+00
2	2	90	added	succeeded	\N	\N	2026-12-01 22:08:20.749965+00
2	2	91	added	succeeded	\N	\N	2026-12-01 22:08:20.749968+00
2	2	92	added	succeeded	\N	\N	2026-12-01 22:08:20.749972+00
2	2	93	added	succeeded	\N	\N	2026-12-01 22:08:20.749976+00
2	2	94	added	succeeded	\N	\N	2026-12-01 22:08:20.749979+00
2	2	95	added	succeeded	\N	\N	2026-12-01 22:08:20.749983+00
2	2	96	added	succeeded	\N	\N	2026-12-01 22:08:20.749987+00
2	2	97	added	succeeded	\N	\N	2026-12-01 22:08:20.749993+00
2	2	98	added	succeeded	\N	\N	2026-12-01 22:08:20.749997+00
2	2	99	added	succeeded	\N	\N	2026-12-01 22:08:20.750001+00
3	3	1	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789814+00
3	3	10	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.78985+00
3	3	100	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789854+00
3	3	11	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789857+00
3	3	12	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.78989+00
3	3	13	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789892+00
3	3	14	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789895+00
3	3	15	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789897+00
3	3	16	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789899+00
3	3	17	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789901+00
3	3	18	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789903+00
3	3	19	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789905+00
3	3	2	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789907+00
3	3	20	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789909+00
3	3	21	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789911+00
3	3	22	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789913+00
3	3	23	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789915+00
3	3	24	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789917+00
3	3	25	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789919+00
3	3	26	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789921+00
3	3	27	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789923+00
3	3	28	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.789925+00
3	3	29	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790007+00
3	3	3	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790009+00
3	3	30	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790011+00
3	3	31	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790013+00
3	3	32	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790015+00
3	3	33	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790017+00
3	3	34	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790019+00
3	3	35	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790021+00
3	3	36	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790023+00
3	3	37	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790025+00
3	3	38	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790027+00
3	3	39	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790044+00
3	3	4	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790046+00
3	3	40	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790057+00
3	3	41	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790059+00
3	3	42	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790061+00
3	3	43	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790063+00
3	3	44	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790065+00
3	3	45	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790067+00
3	3	46	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790069+00
3	3	47	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790071+00
3	3	48	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790073+00
3	3	49	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790075+00
3	3	5	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790076+00
3	3	50	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790078+00
3	3	51	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.79008+00
3	3	52	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790082+00
3	3	53	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790084+00
3	3	54	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790086+00
3	3	55	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790088+00
3	3	56	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.79009+00
3	3	57	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790092+00
3	3	58	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790094+00
3	3	59	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790095+00
3	3	6	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790097+00
3	3	60	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790099+00
3	3	61	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790102+00
3	3	62	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790104+00
3	3	63	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790106+00
3	3	64	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790107+00
3	3	65	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790123+00
3	3	66	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790125+00
3	3	67	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790127+00
3	3	68	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790129+00
3	3	69	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790131+00
3	3	7	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790133+00
3	3	70	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790135+00
3	3	71	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790137+00
3	3	72	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790139+00
3	3	73	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790141+00
3	3	74	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790143+00
3	3	75	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790145+00
3	3	76	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790147+00
3	3	77	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790149+00
3	3	78	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790151+00
3	3	79	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790153+00
3	3	8	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790155+00
3	3	80	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790157+00
3	3	81	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790159+00
3	3	82	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790163+00
3	3	83	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790165+00
3	3	84	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790167+00
3	3	85	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790169+00
3	3	86	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790171+00
3	3	87	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790173+00
3	3	88	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790175+00
3	3	89	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790178+00
3	3	9	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.79018+00
3	3	90	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790182+00
3	3	91	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790196+00
3	3	92	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790263+00
3	3	93	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790266+00
3	3	94	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790268+00
3	3	95	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790271+00
3	3	96	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790273+00
3	3	97	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790275+00
3	3	98	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790277+00
3	3	99	added	aborted	not attempted: the run was cancelled (destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts))	\N	2026-12-01 22:08:20.790279+00
4	1	96	removed	succeeded	\N	\N	2026-12-01 22:08:20.824868+00
4	1	97	removed	succeeded	\N	\N	2026-12-01 22:08:20.824954+00
4	1	98	removed	succeeded	\N	\N	2026-12-01 22:08:20.824958+00
4	1	1	changed	succeeded	\N	\N	2026-12-01 22:08:20.825642+00
4	1	3	changed	succeeded	\N	\N	2026-12-01 22:08:20.825672+00
4	1	4	changed	succeeded	\N	\N	2026-12-01 22:08:20.825676+00
4	1	101	added	rejected	null value in column "plan_name" of relation "contacts" violates not-null constraint (23502): Failing row contains (new@example.com, null, warehouse).	{"plan": null, "email": "new@example.com"}	2026-12-01 22:08:20.827145+00
5	1	101	added	rejected	null value in column "plan_name" of relation "contacts" violates not-null constraint (23502): Failing row contains (new@example.com, null, warehouse).	{"plan": null, "email": "new@example.com"}	2026-12-01 22:08:20.871036+00
6	2	96	removed	succeeded	\N	\N	2026-12-01 22:08:20.901337+00
6	2	97	removed	succeeded	\N	\N	2026-12-01 22:08:20.901414+00
6	2	98	removed	succeeded	\N	\N	2026-12-01 22:08:20.901418+00
6	2	101	added	succeeded	\N	\N	2026-12-01 22:08:20.902009+00
\.


--
-- Data for Name: syncs; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.syncs (id, name, model_id, destination_id, config, enabled, owner, created_at, created_by, updated_at, folder, labels) FROM stdin;
2	vip_list	1	1	{"list": "vip", "mode": "add", "type": "list", "match": {"to": "email", "from": "email"}, "object": "crm.list_members", "mappings": [], "schedule": {"manual": true}, "batch_size": 100, "delete_behavior": "delete", "allow_empty_model": false, "max_removed_share": 0.5}	t	postgres	2026-12-01 22:08:20.640899+00	postgres	2026-12-01 22:08:20.640899+00	\N	{}
1	users_to_crm	1	1	{"mode": "upsert", "type": "object", "match": {"to": "email", "from": "email"}, "object": "crm.contacts", "mappings": [{"to": "plan_name", "from": "plan"}, {"to": "source", "static": "warehouse"}], "schedule": {"manual": true}, "batch_size": 50, "delete_behavior": "delete", "allow_empty_model": false, "max_removed_share": 0.5}	t	postgres	2026-12-01 22:08:20.629242+00	postgres	2026-12-01 22:08:20.665797+00	CRM	{pii,team:growth}
3	users_to_api	1	2	{"mode": "upsert", "type": "object", "match": {"to": "email", "from": "email"}, "mappings": [], "requests": {"added": {"path": "/contacts", "method": "POST"}}, "schedule": {"manual": true}, "batch_size": 10, "delete_behavior": "nothing", "allow_empty_model": false, "max_removed_share": 0.5}	f	postgres	2026-12-01 22:08:20.65734+00	postgres	2026-12-01 22:08:20.918078+00	\N	{}
\.


--
-- Data for Name: sync_runs; Type: TABLE DATA; Schema: reverse_etl; Owner: -
--

COPY reverse_etl.sync_runs (id, sync_id, status, trigger, full_resync, queued_at, started_at, finished_at, error, rows_queried, rows_invalid, planned_added, planned_changed, planned_removed, succeeded_added, succeeded_changed, succeeded_removed, rejected_added, rejected_changed, rejected_removed, aborted_added, aborted_changed, aborted_removed, phase_seconds, worker_pid, cancel_requested_at, due_at) FROM stdin;
1	1	succeeded	manual	f	2026-12-01 22:08:20.672917+00	2026-12-01 22:08:20.676108+00	2026-12-01 22:08:20.703962+00	\N	100	0	100	0	0	100	0	0	0	0	0	0	0	0	{"querying": 0.009, "preparing": 0.01, "delivering": 0.005}	2664	\N	\N
5	1	warning	sequence	f	2026-12-01 22:08:20.84946+00	2026-12-01 22:08:20.851694+00	2026-12-01 22:08:20.871789+00	\N	98	0	1	0	0	0	0	0	1	0	0	0	0	0	{"querying": 0.007, "preparing": 0.009, "delivering": 0.002}	2674	\N	\N
2	2	succeeded	manual	f	2026-12-01 22:08:20.722263+00	2026-12-01 22:08:20.724788+00	2026-12-01 22:08:20.751179+00	\N	100	0	100	0	0	100	0	0	0	0	0	0	0	0	{"querying": 0.009, "preparing": 0.009, "delivering": 0.004}	2665	\N	\N
3	3	incomplete	manual	f	2026-12-01 22:08:20.763142+00	2026-12-01 22:08:20.765661+00	2026-12-01 22:08:20.790423+00	destination unavailable: network error: http://127.0.0.1:9/api/contacts: Connection Failed: Connect error: Connection refused (os error 111) (after 1 attempts)	100	0	100	0	0	0	0	0	0	0	0	100	0	0	{"querying": 0.01, "preparing": 0.008}	2666	\N	\N
4	1	warning	manual	f	2026-12-01 22:08:20.803051+00	2026-12-01 22:08:20.80537+00	2026-12-01 22:08:20.82786+00	\N	98	0	1	3	3	0	3	3	1	0	0	0	0	0	{"querying": 0.007, "preparing": 0.009, "delivering": 0.003}	2671	\N	\N
6	2	succeeded	sequence	f	2026-12-01 22:08:20.882536+00	2026-12-01 22:08:20.884651+00	2026-12-01 22:08:20.903522+00	\N	98	0	1	0	3	1	0	3	0	0	0	0	0	0	{"querying": 0.007, "preparing": 0.007, "delivering": 0.002}	2675	\N	\N
\.


--
-- Data for Name: snapshot_1; Type: TABLE DATA; Schema: reverse_etl_state; Owner: -
--

COPY reverse_etl_state.snapshot_1 (row_id, row_hash, match_key) FROM stdin;
10	-7763115136215548345	user10@example.com
100	2904491534583944077	user100@example.com
11	-8509797053381490371	user11@example.com
12	4095157684386577089	user12@example.com
13	-3391360605827429056	user13@example.com
14	-6391670821434845235	user14@example.com
15	7527964053855321579	user15@example.com
16	3183135583513753534	user16@example.com
17	3476238862039144011	user17@example.com
18	-7491963719253987074	user18@example.com
19	9206235383757111855	user19@example.com
2	760720095229951781	user2@example.com
20	7301054106877058643	user20@example.com
21	120636653767525793	user21@example.com
22	8821765814327775659	user22@example.com
23	3119108477820844426	user23@example.com
24	-8488719134007172596	user24@example.com
25	-904134292962703606	user25@example.com
26	-5545626944368422588	user26@example.com
27	-6564177449538358969	user27@example.com
28	6937452846126576440	user28@example.com
29	-9219667700978909276	user29@example.com
30	4133365679459956698	user30@example.com
31	-8290937201004435226	user31@example.com
32	-8276091039863901528	user32@example.com
33	6545448229161632305	user33@example.com
34	6214799896802283140	user34@example.com
35	-9195247229872561363	user35@example.com
36	-4920206293674491445	user36@example.com
37	2659875233771421886	user37@example.com
38	-624593803564575233	user38@example.com
39	-1417571991136780037	user39@example.com
40	-6656011510948491986	user40@example.com
41	2474612355237509945	user41@example.com
42	1850895940200905294	user42@example.com
43	4024450658067024487	user43@example.com
44	-9203378539681848487	user44@example.com
45	-6318633885936406439	user45@example.com
46	-3528821959715860037	user46@example.com
47	2322653692035880037	user47@example.com
48	-455389104968639533	user48@example.com
49	5814371461498521492	user49@example.com
5	2008677368458970516	user5@example.com
50	355035381429628154	user50@example.com
51	6489370321049151954	user51@example.com
52	5280124057380910374	user52@example.com
53	1506882010389016208	user53@example.com
54	-8975800088483043764	user54@example.com
55	-4247549570120205362	user55@example.com
56	7798977666002176837	user56@example.com
57	3931416771434143484	user57@example.com
58	5478506439067699841	user58@example.com
59	-4159857467837227621	user59@example.com
6	4151311027727547422	user6@example.com
60	-8848058386347497202	user60@example.com
61	-5255903934517422625	user61@example.com
62	-6453959652913148399	user62@example.com
63	5201147822654809004	user63@example.com
64	-6947048079581101270	user64@example.com
65	-9083001193608297194	user65@example.com
66	1818821006256399792	user66@example.com
67	4221092662015123206	user67@example.com
68	9213164950263619060	user68@example.com
69	-6211628987438947267	user69@example.com
7	-7664666836057694303	user7@example.com
70	8660695171328299030	user70@example.com
71	-6775926958338880658	user71@example.com
72	-2650023571317847828	user72@example.com
73	6465869693208387424	user73@example.com
74	1136247856403599591	user74@example.com
75	-7271579201008426875	user75@example.com
76	7709639036710640936	user76@example.com
77	4249687821623046523	user77@example.com
78	984030322158367794	user78@example.com
79	-4052963431575573044	user79@example.com
8	-7346364935548290792	user8@example.com
80	2827709615071984652	user80@example.com
81	6703994816594255545	user81@example.com
82	1932908392758146713	user82@example.com
83	7338864877375293021	user83@example.com
84	4925628575915776077	user84@example.com
85	-1884220148851381895	user85@example.com
86	3009248595300942055	user86@example.com
87	-524959632563915911	user87@example.com
88	-4761671137763105602	user88@example.com
89	-8367488583852495674	user89@example.com
9	-4222007813356756874	user9@example.com
90	31706563602355633	user90@example.com
91	4315068324995049710	user91@example.com
92	-8665624032886363021	user92@example.com
93	3202845116451629389	user93@example.com
94	596886636339863580	user94@example.com
95	-250996427866094637	user95@example.com
99	-8284228137471064162	user99@example.com
1	-3464874334369067578	user1@example.com
3	-5078454277810708317	user3@example.com
4	4258208147856767694	user4@example.com
\.


--
-- Data for Name: snapshot_2; Type: TABLE DATA; Schema: reverse_etl_state; Owner: -
--

COPY reverse_etl_state.snapshot_2 (row_id, row_hash, match_key) FROM stdin;
1	703424779833023606	user1@example.com
10	7195353386748378040	user10@example.com
100	-9125015540419890062	user100@example.com
11	6548592369926599541	user11@example.com
12	6601690257090875334	user12@example.com
13	9116538407297602201	user13@example.com
14	5485564062066649242	user14@example.com
15	5048134029326936721	user15@example.com
16	3002531041712947709	user16@example.com
17	-2148965813161484765	user17@example.com
18	8279036148427991750	user18@example.com
19	67812205561699251	user19@example.com
2	1175322605033412109	user2@example.com
20	8669170114252277225	user20@example.com
21	3617858102204314846	user21@example.com
22	-2327262340890817064	user22@example.com
23	5880954887718547565	user23@example.com
24	-5455110416672696698	user24@example.com
25	7799682784956225853	user25@example.com
26	-7503686317819194799	user26@example.com
27	-1609876324130419685	user27@example.com
28	-6239250104128823334	user28@example.com
29	-2617938869036189614	user29@example.com
3	-894487477163310039	user3@example.com
30	966288245184092811	user30@example.com
31	-7355477702516310822	user31@example.com
32	1964214555928290262	user32@example.com
33	-8244016467733312335	user33@example.com
34	4310964525211632551	user34@example.com
35	-5267068785891174652	user35@example.com
36	2619554047761324483	user36@example.com
37	8744821121660361517	user37@example.com
38	-447027479039265269	user38@example.com
39	-4413755451442295763	user39@example.com
4	-4113148370576952001	user4@example.com
40	-8139283581686630391	user40@example.com
41	-2110084701434632433	user41@example.com
42	-4997031997033729258	user42@example.com
43	-6243714668195022844	user43@example.com
44	-8427560808375942898	user44@example.com
45	3606475388203117190	user45@example.com
46	6469727567488824714	user46@example.com
47	-2217278364237834156	user47@example.com
48	6697861139206937265	user48@example.com
49	6072500940585006675	user49@example.com
5	5844124400266423357	user5@example.com
50	8125074730104401985	user50@example.com
51	-6014188571298532555	user51@example.com
52	5221612845247880959	user52@example.com
53	-3431865514830629647	user53@example.com
54	5506096972419850547	user54@example.com
55	-4827299770470740719	user55@example.com
56	-5322729526419373094	user56@example.com
57	4194106521642116073	user57@example.com
58	-8285700677363657852	user58@example.com
59	8689341423923956871	user59@example.com
6	-6019152141966477311	user6@example.com
60	-2096355137555123834	user60@example.com
61	6632125570457392797	user61@example.com
62	955258956087510657	user62@example.com
63	-7657042468007616790	user63@example.com
64	4117760534312013739	user64@example.com
65	-1451957103739713484	user65@example.com
66	-6371622910786581661	user66@example.com
67	-6574569378713974570	user67@example.com
68	1603690781505967583	user68@example.com
69	-5691006637474759184	user69@example.com
7	4449071154696965413	user7@example.com
70	7475753088147891977	user70@example.com
71	-8109929223341720558	user71@example.com
72	-5403510878433259829	user72@example.com
73	-4907874359829282265	user73@example.com
74	8812847430604552320	user74@example.com
75	8110724911058428394	user75@example.com
76	6478907208026076285	user76@example.com
77	1929364425114275822	user77@example.com
78	-264132955552572553	user78@example.com
79	7922428071908555408	user79@example.com
8	4939320966389793348	user8@example.com
80	5358126099828192673	user80@example.com
81	2228277494426035536	user81@example.com
82	3650124548885900879	user82@example.com
83	6039361070797165188	user83@example.com
84	2708941904125714735	user84@example.com
85	-5548151951578333979	user85@example.com
86	-2773597211558197210	user86@example.com
87	-3366841624938204476	user87@example.com
88	-5685036643500583897	user88@example.com
89	5203415963889505811	user89@example.com
9	8810045745283436910	user9@example.com
90	-3380525751191630886	user90@example.com
91	7379906798045936257	user91@example.com
92	4325286536045057347	user92@example.com
93	-6820090368270546715	user93@example.com
94	-1244485847695706557	user94@example.com
95	5447137891191704667	user95@example.com
99	-3848644903156280779	user99@example.com
101	7884066836070265678	new@example.com
\.


--
-- Data for Name: snapshot_3; Type: TABLE DATA; Schema: reverse_etl_state; Owner: -
--

COPY reverse_etl_state.snapshot_3 (row_id, row_hash, match_key) FROM stdin;
\.


--
-- Name: destinations_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.destinations_id_seq', 2, true);


--
-- Name: models_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.models_id_seq', 1, true);


--
-- Name: sequence_runs_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.sequence_runs_id_seq', 1, true);


--
-- Name: sequences_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.sequences_id_seq', 1, true);


--
-- Name: sync_activity_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.sync_activity_id_seq', 6, true);


--
-- Name: sync_runs_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.sync_runs_id_seq', 6, true);


--
-- Name: syncs_id_seq; Type: SEQUENCE SET; Schema: reverse_etl; Owner: -
--

SELECT pg_catalog.setval('reverse_etl.syncs_id_seq', 3, true);


--
-- Name: contacts contacts_pkey; Type: CONSTRAINT; Schema: crm; Owner: -
--

ALTER TABLE ONLY crm.contacts
    ADD CONSTRAINT contacts_pkey PRIMARY KEY (email);


--
-- Name: list_members list_members_list_email_key; Type: CONSTRAINT; Schema: crm; Owner: -
--

ALTER TABLE ONLY crm.list_members
    ADD CONSTRAINT list_members_list_email_key UNIQUE (list, email);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: snapshot_1 snapshot_1_pkey; Type: CONSTRAINT; Schema: reverse_etl_state; Owner: -
--

ALTER TABLE ONLY reverse_etl_state.snapshot_1
    ADD CONSTRAINT snapshot_1_pkey PRIMARY KEY (row_id);


--
-- Name: snapshot_2 snapshot_2_pkey; Type: CONSTRAINT; Schema: reverse_etl_state; Owner: -
--

ALTER TABLE ONLY reverse_etl_state.snapshot_2
    ADD CONSTRAINT snapshot_2_pkey PRIMARY KEY (row_id);


--
-- Name: snapshot_3 snapshot_3_pkey; Type: CONSTRAINT; Schema: reverse_etl_state; Owner: -
--

ALTER TABLE ONLY reverse_etl_state.snapshot_3
    ADD CONSTRAINT snapshot_3_pkey PRIMARY KEY (row_id);


--
-- PostgreSQL database dump complete
--


