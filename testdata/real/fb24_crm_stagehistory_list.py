response = {
    "result": {
        "result": {
            "order0000000000": {
                "items": [
                    {
                        "OWNER_ID": "5047",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-01T09:39:06+03:00",
                        "ID": "10653",
                    },
                    {
                        "OWNER_ID": "4625",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-01T13:08:31+03:00",
                        "ID": "10665",
                    },
                    {
                        "OWNER_ID": "5135",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-02T07:33:56+03:00",
                        "ID": "10765",
                    },
                    {
                        "OWNER_ID": "5149",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-07T15:51:05+03:00",
                        "ID": "10973",
                    },
                    {
                        "OWNER_ID": "4909",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-10T07:05:27+03:00",
                        "ID": "11035",
                    },
                    {
                        "OWNER_ID": "5111",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-15T07:50:39+03:00",
                        "ID": "11151",
                    },
                    {
                        "OWNER_ID": "2781",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-11-29T06:32:30+03:00",
                        "ID": "11505",
                    },
                    {
                        "OWNER_ID": "5417",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2022-12-19T14:05:38+03:00",
                        "ID": "11911",
                    },
                    {
                        "OWNER_ID": "5453",
                        "STAGE_ID": "EXECUTING",
                        "CREATED_TIME": "2023-01-11T10:00:19+03:00",
                        "ID": "12045",
                    },
                ]
            }
        },
        "result_error": [],
        "result_total": {"order0000000000": 9},
        "result_next": [],
        "result_time": {
            "order0000000000": {
                "start": 1674411206.349736,
                "finish": 1674411206.353423,
                "duration": 0.003687143325805664,
                "processing": 0.0030040740966796875,
                "date_start": "2023-01-22T21:13:26+03:00",
                "date_finish": "2023-01-22T21:13:26+03:00",
                "operating_reset_at": 1674411806,
                "operating": 0,
            }
        },
    },
    "time": {
        "start": 1674411206.327315,
        "finish": 1674411206.354011,
        "duration": 0.026695966720581055,
        "processing": 0.004341840744018555,
        "date_start": "2023-01-22T21:13:26+03:00",
        "date_finish": "2023-01-22T21:13:26+03:00",
        "operating_reset_at": 1674411806,
        "operating": 0,
    },
}
